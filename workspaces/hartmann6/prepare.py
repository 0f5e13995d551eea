"""The fixed harness of the analytic workspace (protected): Hartmann-6 and its noise.

Hartmann-6 is a standard test function for global optimisers: six inputs in [0, 1], four
local minima, and a known global minimum f* = -3.32237 at
(0.20169, 0.150011, 0.476874, 0.275332, 0.311652, 0.6573). The metric is the regret
f(x) - f* (0 at the optimum, lower is better) plus Gaussian noise whose draw depends on
the point and on CONDUCTOR_SEED, so re-runs with other seeds measure a noise floor.
"""

import math
import random

F_STAR = -3.32237
OPTIMUM = (0.20169, 0.150011, 0.476874, 0.275332, 0.311652, 0.6573)

_ALPHA = (1.0, 1.2, 3.0, 3.2)
_A = (
    (10, 3, 17, 3.5, 1.7, 8),
    (0.05, 10, 17, 0.1, 8, 14),
    (3, 3.5, 1.7, 10, 17, 8),
    (17, 8, 0.05, 10, 0.1, 14),
)
_P = (
    (0.1312, 0.1696, 0.5569, 0.0124, 0.8283, 0.5886),
    (0.2329, 0.4135, 0.8307, 0.3736, 0.1004, 0.9991),
    (0.2348, 0.1451, 0.3522, 0.2883, 0.3047, 0.6650),
    (0.4047, 0.8828, 0.8732, 0.5743, 0.1091, 0.0381),
)


def hartmann6(x: tuple[float, ...]) -> float:
    return -sum(
        alpha * math.exp(-sum(a * (xj - p) ** 2 for a, xj, p in zip(row, x, prow)))
        for alpha, row, prow in zip(_ALPHA, _A, _P)
    )


def regret(x: tuple[float, ...], noise_sd: float, seed: int) -> float:
    """f(x) - f*, plus noise drawn from (x, seed): the same point and seed give the same value."""
    if len(x) != 6 or any(not 0.0 <= v <= 1.0 for v in x):
        raise ValueError(f"every input must lie in [0, 1], got {x}")
    rng = random.Random(f"{seed}:" + ",".join(f"{v:.6f}" for v in x))
    return hartmann6(x) - F_STAR + noise_sd * rng.gauss(0.0, 1.0)
