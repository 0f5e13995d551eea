"""How alike two experiment descriptions are, offline: the board's near-repeat test.

The measure is the cosine between feature-count vectors, where a description's features are
the character 3-grams of each of its words (lowercased, padded with a space on each side, the
few stop words dropped) and each number as one whole feature worth four 3-grams (`1e-3` and
`0.001` are the same feature). Why this and not another:

- Descriptions are short (a few words) and written by different models: word-level token-set
  Jaccard calls "halve the lr" and "halved the lr" different and is dominated by one word's
  change; character 3-grams of words score inflections, plurals and hyphenation as alike.
- Numbers carry the experiment ("depth 4" is not "depth 6"): as 3-grams they would differ
  in one or two grams out of many, so they are single, heavy features that must match.
- Plain counts, no IDF: TF-IDF weights depend on the board's contents, so the same pair would
  be judged differently as the board grows, and the first entries would have no corpus at all.
- No model and no network: deterministic, microseconds per pair, testable.

NEAR_REPEAT (0.9) was set on pairs such as "halve the learning rate" / "halved the learning
rate" (0.915, near) against "halve ..." / "double the learning rate" (0.69) and
"increase depth to 4" / "increase depth to 6" (0.45): see tests/unit/test_board.py.
"""

from __future__ import annotations

import math
import re
from collections import Counter

NEAR_REPEAT = 0.9
NUMBER_WEIGHT = 4
STOP_WORDS = frozenset(
    ["a", "an", "and", "at", "by", "for", "from", "in", "it", "its", "of", "on", "the", "to", "try", "with"]
)
_TOKEN = re.compile(r"[-+]?(?:\d+\.?\d*|\.\d+)(?:e[-+]?\d+)?%?|[a-z]+")
_NUMBER = re.compile(r"[-+]?(?:\d+\.?\d*|\.\d+)(?:e[-+]?\d+)?%?")


def features(text: str) -> Counter[str]:
    """The feature counts of a description (see the module's docstring)."""
    out: Counter[str] = Counter()
    for token in _TOKEN.findall(text.lower()):
        if _NUMBER.fullmatch(token):
            out[f"#{float(token.rstrip('%')):g}"] += NUMBER_WEIGHT
        elif token not in STOP_WORDS:
            padded = f" {token} "
            out.update(padded[i : i + 3] for i in range(len(padded) - 2))
    return out


def cosine(a: Counter[str], b: Counter[str]) -> float:
    """Cosine similarity of two feature counts; 0 when either is empty."""
    if len(a) > len(b):
        a, b = b, a
    dot = sum(v * b[k] for k, v in a.items() if k in b)
    norm = math.sqrt(sum(v * v for v in a.values()) * sum(v * v for v in b.values()))
    return dot / norm if norm else 0.0


def similarity(a: str, b: str) -> float:
    return cosine(features(a), features(b))
