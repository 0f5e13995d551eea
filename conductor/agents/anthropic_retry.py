"""How conductor's own agent waits out the Anthropic API's trouble, visibly.

The SDK retries quick failures (at most twice, a few seconds each); a middleware watches
every attempt so those retries show on the pane, and takes two cases away from the SDK by
raising: a spend limit (retrying cannot clear it: the pane pauses) and a retry-after longer
than the SDK should sleep unseen (the agent's loop waits it out, with a countdown).
"""

from __future__ import annotations

import email.utils
import json
import random
import time
from collections.abc import Callable, Mapping
from typing import Any

import anthropic

SDK_MAX_RETRIES = 2
SDK_WAIT_CAP_S = 5.0  # a longer retry-after is waited out by the loop, visibly, not inside the SDK
BACKOFF_BASE_S = 1.0
BACKOFF_MAX_S = 60.0


class SpendLimitReached(Exception):
    """A 429 that retrying cannot clear: the organisation's spend limit."""


class RetryLater(Exception):
    """The API asked for a wait longer than the SDK should sleep unseen."""

    def __init__(self, delay: float, reason: str):
        super().__init__(reason)
        self.delay = delay
        self.reason = reason


def retry_after_seconds(headers: Mapping[str, str]) -> float | None:
    """`retry-after-ms`, else `retry-after` as seconds or an HTTP date; None when absent."""
    ms = headers.get("retry-after-ms")
    if ms is not None:
        try:
            return max(0.0, float(ms) / 1000)
        except ValueError:
            pass
    raw = headers.get("retry-after")
    if raw is None:
        return None
    try:
        return max(0.0, float(raw))
    except ValueError:
        parsed = email.utils.parsedate_tz(raw)
        return max(0.0, email.utils.mktime_tz(parsed) - time.time()) if parsed else None


def backoff_seconds(failures: int) -> float:
    return min(BACKOFF_MAX_S, BACKOFF_BASE_S * 2**failures) * random.uniform(0.75, 1.0)


def error_fields(body: bytes) -> tuple[str, str, str]:
    """(error type, message, error_code) from an API error body; empty strings when absent."""
    try:
        error = json.loads(body).get("error") or {}
    except (ValueError, AttributeError):
        return "", "", ""
    details = error.get("details") if isinstance(error.get("details"), dict) else {}
    return str(error.get("type") or ""), str(error.get("message") or ""), str(details.get("error_code") or "")


def is_spend_limit(code: str | None) -> bool:
    return bool(code) and code.endswith("spend_limit_reached")


def _sdk_would_retry(response: Any) -> bool:
    flag = response.headers.get("x-should-retry")
    if flag in ("true", "false"):
        return flag == "true"
    return response.status_code in (408, 409, 429) or response.status_code >= 500


class AttemptWatch(anthropic.Middleware):
    """Runs once per HTTP attempt inside the SDK's retry loop: makes its retries visible,
    and takes spend limits and long waits away from it (raising stops its retrying)."""

    def __init__(self, on_wait: Callable[[float, str], None], on_attempt: Callable[[], None]):
        self.on_wait = on_wait
        self.on_attempt = on_attempt

    async def handle_async(self, request: anthropic.APIRequest, call_next):
        if request.retries_taken:
            self.on_attempt()
        response = await call_next(request)
        http = response.http_response
        if http.status_code < 400:
            return response
        body = await http.aread()
        kind, message, code = error_fields(body)
        if http.status_code == 429 and is_spend_limit(code):
            raise SpendLimitReached(message or code)
        if not _sdk_would_retry(http) or request.retries_taken >= SDK_MAX_RETRIES:
            return response
        reason = f"{http.status_code} {kind or 'error'}"
        delay = retry_after_seconds(http.headers)
        if delay is not None and delay > SDK_WAIT_CAP_S:
            raise RetryLater(delay, reason)
        self.on_wait(delay if delay is not None else backoff_seconds(request.retries_taken) / 2, reason)
        return response


def loop_retryable(exc: anthropic.APIStatusError) -> bool:
    """Status errors worth waiting out; a mid-stream error event arrives with status 200."""
    return (
        exc.status_code in (408, 409, 429)
        or exc.status_code >= 500
        or exc.type in ("overloaded_error", "rate_limit_error", "api_error")
    )
