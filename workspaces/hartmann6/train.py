"""The analytic workspace's experiment: evaluate Hartmann-6 at the six constants below.

An experiment takes well under a second, so tests and benches can run hundreds of them.
Change X1..X6 (each in [0, 1]) to lower `regret`; prepare.py is fixed.
"""

import os

from prepare import regret

X1 = 0.9
X2 = 0.9
X3 = 0.9
X4 = 0.9
X5 = 0.9
X6 = 0.9
NOISE_SD = 0.02  # measurement noise of each run

value = regret((X1, X2, X3, X4, X5, X6), NOISE_SD, int(os.environ.get("CONDUCTOR_SEED", "0")))
print("---")
print(f"regret:           {value:.6f}")
