"""`conductor serve`: the TUI of a live orchestra in a browser, through textual-serve.

Each browser connection runs its own `conductor attach` (read-only unless
`--allow-commands`), so several browsers are several attached clients of the control
socket. The server listens on 127.0.0.1 unless told otherwise, and every page and socket
needs the token printed in the URL: a random one per start, compared in constant time,
then kept in a same-site cookie so the page's websocket carries it. The static files (the
terminal's JavaScript and CSS) need none. Request logs are off: they would hold the token.
"""

from __future__ import annotations

import hmac
import logging
import secrets
import shlex
import sys
from pathlib import Path

from conductor.errors import ConductorError

COOKIE = "conductor_token"


def cmd_serve(run_dir: Path, host: str, port: int, allow_commands: bool) -> int:
    from conductor.detach import live_orchestra

    if live_orchestra(run_dir) is None:
        raise ConductorError(f"no conductor is running for {run_dir}; start one with `conductor up --detach`")
    if not 0 < port < 65536:
        raise ConductorError(f"--port must be between 1 and 65535, got {port}")
    try:
        server = token_server(run_dir, host, port, allow_commands, secrets.token_urlsafe(24))
    except ImportError as exc:
        raise ConductorError(f"`conductor serve` needs textual-serve ({exc}): pip install 'conductor[serve]'") from None
    mode = "browsers may send commands" if allow_commands else "read-only"
    print(f"conductor: serving {run_dir} ({mode}) at {server.url}", flush=True)
    server.serve()
    return 0


def token_server(run_dir: Path, host: str, port: int, allow_commands: bool, token: str):
    from aiohttp import web
    from textual_serve.server import Server

    argv = [sys.executable, "-m", "conductor", "attach", "--runs-dir", str(run_dir)]
    command = shlex.join(argv if allow_commands else [*argv, "--read-only"])

    @web.middleware
    async def needs_token(request: web.Request, handler):
        if request.path.startswith("/static/"):
            return await handler(request)
        given = request.query.get("token") or request.cookies.get(COOKIE) or ""
        if not hmac.compare_digest(given.encode(), token.encode()):
            return web.Response(status=403, text="conductor: this page needs the token `conductor serve` printed\n")
        response = await handler(request)
        if request.path == "/":
            response.set_cookie(COOKIE, token, httponly=True, samesite="Strict")
        return response

    class TokenServer(Server):
        url = f"http://{host}:{port}/?token={token}"

        def initialize_logging(self) -> None:
            super().initialize_logging()
            logging.getLogger("aiohttp.access").setLevel(logging.WARNING)

        async def _make_app(self) -> web.Application:
            app = await super()._make_app()
            app.middlewares.append(needs_token)
            return app

    return TokenServer(command, host=host, port=port, title=f"conductor {Path(run_dir).name}")
