"""Secrets stay out of everything conductor writes: logs, ledger, events, results.tsv.

Environment variables whose names look secret are not passed to experiments, and their
values are masked in any text an agent or researcher produces before it is recorded.
"""

from __future__ import annotations

SECRET_MARKERS = ("KEY", "TOKEN", "SECRET", "PASSWORD", "CREDENTIAL")
MASK = "[redacted]"


def is_secret_name(name: str) -> bool:
    upper = name.upper()
    return any(marker in upper for marker in SECRET_MARKERS)


class Redactor:
    def __init__(self, env: dict[str, str]):
        # short values ("1", "true") would mask ordinary words; real secrets are long
        self.values = sorted({v for k, v in env.items() if is_secret_name(k) and len(v) >= 8}, key=len, reverse=True)

    def __call__(self, text: str) -> str:
        for value in self.values:
            if value in text:
                text = text.replace(value, MASK)
        return text
