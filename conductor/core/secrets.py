"""Secrets stay out of everything conductor writes: logs, ledger, events, results.tsv.

Environment variables whose names look secret are not passed to experiments, and their
values are masked in any text an agent or researcher produces before it is recorded, and in
every byte an experiment prints before it reaches its log file.

Which names look secret: a built-in rule (below) plus the `[conductor] secret_names` of the
config (names or fnmatch patterns, `MY_SERVICE_*`), matched without regard to case.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from fnmatch import fnmatchcase
from pathlib import Path

MASK = "[redacted]"
MASK_BYTES = MASK.encode()
# Found anywhere in the name: rarely part of an innocent word.
SECRET_SUBSTRINGS = ("KEY", "TOKEN", "SECRET", "PASSWORD", "PASSWD", "PASSPHRASE", "CREDENTIAL", "PRIVATE")
# Found only as a word of the name (split at `_`, digits and punctuation), since as substrings
# they are parts of innocent names: PASS of PASSENGER, AUTH of GIT_AUTHOR_NAME and XAUTHORITY
# (a path the display needs; the cookie is in the file, not the value). A word ending in PASS
# (DBPASS, PGPASS) counts, at the price of BYPASS and COMPASS; SSH_AUTH_SOCK counts on purpose:
# an experiment has no business with the researcher's SSH agent.
_WORD = re.compile(r"[A-Z]+")
_AUTH_WORDS = frozenset({"AUTH", "AUTHN", "AUTHZ", "OAUTH", "BASICAUTH", "HTTPAUTH"})
# Shorter values ("1", "true", "main") would mask ordinary words; real secrets are long.
MIN_SECRET_LEN = 8


def _secret_word(word: str) -> bool:
    return word.endswith("PASS") or word in _AUTH_WORDS or word.startswith("AUTHORIZ")


def is_secret_name(name: str) -> bool:
    """The built-in rule: does this environment variable's name look like it holds a secret?"""
    upper = name.upper()
    return any(marker in upper for marker in SECRET_SUBSTRINGS) or any(map(_secret_word, _WORD.findall(upper)))


class SecretNames:
    """The built-in rule plus the config's own names and fnmatch patterns (`secret_names`)."""

    def __init__(self, extra: Iterable[str] = ()):
        self.extra = tuple(p.upper() for p in extra)

    def __call__(self, name: str) -> bool:
        upper = name.upper()
        return is_secret_name(name) or any(fnmatchcase(upper, pattern) for pattern in self.extra)


class Redactor:
    """Masks the values of the secret-named variables of `env` in text (str) and output (bytes)."""

    def __init__(self, env: Mapping[str, str], names: SecretNames | None = None):
        secret = names or SecretNames()
        found = {v for k, v in env.items() if secret(k) and len(v) >= MIN_SECRET_LEN}
        self.values = sorted(found, key=len, reverse=True)
        self.byte_values = [v.encode("utf-8", "surrogateescape") for v in self.values]

    def __call__(self, text: str) -> str:
        for value in self.values:
            if value in text:
                text = text.replace(value, MASK)
        return text

    def redact_bytes(self, data: bytes) -> bytes:
        for value in self.byte_values:
            if value in data:
                data = data.replace(value, MASK_BYTES)
        return data

    def stream(self) -> StreamRedactor:
        return StreamRedactor(self)


def redactor_for(env: Mapping[str, str], secret_names: Iterable[str] = ()) -> Redactor:
    """The redactor of a run: `env` is conductor's environment, `secret_names` the config's."""
    return Redactor(env, SecretNames(secret_names))


class StreamRedactor:
    """Redacts a byte stream that arrives in arbitrary pieces: a secret split across two
    writes is still masked. Only the bytes at the end of a piece that could be the start of
    a secret are held back until the next piece (or `flush`), so the output lags the input
    by nothing at all unless it ends in what looks like the beginning of a secret."""

    def __init__(self, redactor: Redactor):
        self.values = redactor.byte_values
        self._held = b""

    def feed(self, data: bytes) -> bytes:
        if not self.values:
            return data
        buf = self._held + data if self._held else data
        for value in self.values:
            if value in buf:
                buf = buf.replace(value, MASK_BYTES)
        hold = self._partial_secret_at_end(buf)
        self._held = buf[len(buf) - hold :] if hold else b""
        return buf[: len(buf) - hold] if hold else buf

    def flush(self) -> bytes:
        """What is still held back: the stream has ended, so it cannot become a secret."""
        out, self._held = self._held, b""
        return out

    def _partial_secret_at_end(self, buf: bytes) -> int:
        """How many trailing bytes of `buf` are a proper prefix of some secret."""
        hold = 0
        for value in self.values:
            first = value[:1]
            i = buf.find(first, max(0, len(buf) - len(value) + 1))
            while i != -1 and len(buf) - i > hold:
                if value.startswith(buf[i:]):
                    hold = len(buf) - i
                    break
                i = buf.find(first, i + 1)
        return hold


def files_holding_secrets(root: Path, files: Iterable[str], redact: Callable[[str], str]) -> list[str]:
    """The files (relative to `root`) in which masking would hide something: they hold a
    secret's value, and must never be committed."""
    leaked = []
    for rel in files:
        try:
            text = (root / rel).read_bytes().decode("utf-8", "surrogateescape")
        except OSError:  # deleted by the change: nothing to leak
            continue
        if redact(text) != text:
            leaked.append(rel)
    return leaked
