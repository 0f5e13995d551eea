"""A notification URL with its secrets masked, for everything conductor records or shows.

Apprise URLs carry their credentials in every part: the password (`mailto://user:pass@`),
the host (`tgram://BOT_TOKEN/CHAT`), the path (`slack://T/B/C`, `json://host/TOKEN`) and
the query (`?token=...`). Only the scheme, a user name, a host that looks like a host name
(a dot, or localhost) and its port, and the query's keys are kept.
"""

from __future__ import annotations

from urllib.parse import parse_qsl, urlsplit

MASK = "***"


def mask_url(url: str) -> str:
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return f"{url.split('://', 1)[0]}://{MASK}"
    host = parts.hostname or ""
    shown_host = host if ("." in host or host == "localhost") else (MASK if host else "")
    user = ""
    if parts.username:
        user = f"{parts.username}:{MASK}@" if parts.password is not None else f"{MASK}@"
    netloc = f"{user}{shown_host}" + (f":{port}" if port else "")
    path = "/" + MASK if parts.path.strip("/") else ""
    query = "&".join(f"{k}={MASK}" for k, _ in parse_qsl(parts.query, keep_blank_values=True))
    return f"{parts.scheme}://{netloc}{path}" + (f"?{query}" if query else "")


def secret_parts(url: str) -> list[str]:
    """The pieces of `url` that `mask_url` hides, for a redactor of free text (log lines)."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return [url]
    out = [p for p in parts.path.split("/") if p]
    out += [v for _, v in parse_qsl(parts.query, keep_blank_values=True) if v]
    if parts.password:
        out.append(parts.password)
    host = parts.hostname or ""
    if host and "." not in host and host != "localhost":
        out.append(host)
    return [p for p in out if len(p) >= 4]


def shown_notify(urls: tuple[str, ...], events: tuple[str, ...]) -> dict:
    """[notify] as status shows it: masked URLs and the events wanted."""
    return {"urls": [mask_url(u) for u in urls], "events": list(events)}
