"""CI runs exactly the README's test command (the second block)."""

import re
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def test_ci_runs_the_readme_test_command():
    readme = (REPO / "README.md").read_text()
    blocks = re.findall(r"```bash\n(.*?)\n```", readme, re.S)
    assert len(blocks) >= 2 and "conductor demo" in blocks[0]
    ci = (REPO / ".ci" / "run").read_text()
    assert blocks[1].strip() in ci
