"""The `conductor` command: argparse first, heavy imports only for the verb that runs.

`conductor --help` and config errors cost no import of textual, torch or an agent SDK.
Every user error ends as one line `conductor: ...` and exit status 2.
"""

from __future__ import annotations

import argparse
import os
import sqlite3
import sys
from pathlib import Path

from conductor.core.rundir import RunDir
from conductor.errors import ConductorError

DEMO_RUNS_DIR = ".conductor-demo"
VERBS = [
    "demo",
    "up",
    "run",
    "attach",
    "serve",
    "stop",
    "status",
    "report",
    "export",
    "init",
    "exp",
    "verify",
    "evolve",
    "adopt",
    "live",
    "doctor",
]  # every verb `_parser` builds (a unit test holds them equal)


class _Unused:
    """What `_parser(only=...)` gives the verbs it leaves out: every call is taken and dropped."""

    def __getattr__(self, name: str):
        return lambda *args, **kwargs: self


def _parser(only: str | None = None) -> argparse.ArgumentParser:
    """Every verb's parser; with `only` (a verb named on the command line), that verb's alone:
    building all of them is 15 ms of `conductor status`."""
    p = argparse.ArgumentParser(
        prog="conductor",
        description="A terminal agent orchestra for autonomous research loops.",
    )
    sub = p.add_subparsers(dest="verb", metavar="VERB")
    if only is not None:
        add_parser = sub.add_parser
        sub.add_parser = lambda name, **kw: add_parser(name, **kw) if name == only else _Unused()  # type: ignore[method-assign]

    d = sub.add_parser("demo", help="run the bundled tinygpt workspace (offline, no key, no GPU needed)")
    d.add_argument("--panes", type=int, default=2, help="loops on the workspace (default 2)")
    d.add_argument("--headless", action="store_true", help="print one line per event instead of the TUI")
    d.add_argument("--max-experiments", type=int, default=None, metavar="N", help="stop each pane after N")
    d.add_argument("--budget", type=float, default=None, metavar="S", help="time budget per experiment, seconds")
    d.add_argument("--runs-dir", default=DEMO_RUNS_DIR, metavar="DIR", help=f"run dir (default {DEMO_RUNS_DIR})")
    d.add_argument("--agent", default=None, metavar="KIND", help="agent kind (default: optuna without a key)")
    d.add_argument("--json", action="store_true", help="with --headless: one JSON object per event")

    u = sub.add_parser("up", help="open the TUI on conductor.toml")
    u.add_argument("-c", "--config", default="conductor.toml", metavar="FILE")
    u.add_argument("--max-experiments", type=int, default=None, metavar="N")
    how = u.add_mutually_exclusive_group()
    how.add_argument("--detach", action="store_true", help="run the orchestra in the background; attach later")
    how.add_argument(
        "--in-process", action="store_true", help="run the orchestra inside the TUI (closing the terminal stops it)"
    )

    r = sub.add_parser("run", help="run headless: one line (or JSON object) per event")
    r.add_argument("-c", "--config", default="conductor.toml", metavar="FILE")
    r.add_argument("--max-experiments", type=int, default=None, metavar="N", help="stop each pane after N")
    r.add_argument("--json", action="store_true", help="one JSON object per event")
    r.add_argument("--headless", action="store_true", help=argparse.SUPPRESS)  # `run` is always headless
    r.add_argument("--detach", action="store_true", help="run in the background (log in the run dir)")

    a = sub.add_parser("attach", help="open the TUI on an orchestra running in the background")
    a.add_argument("--read-only", action="store_true", help="watch only: send no command")
    g = a.add_mutually_exclusive_group()
    g.add_argument("-c", "--config", default=None, metavar="FILE")
    g.add_argument("--runs-dir", default=None, metavar="DIR")

    sv = sub.add_parser("serve", help="the TUI of a background orchestra in a browser (127.0.0.1, token in the URL)")
    sv.add_argument("--host", default="127.0.0.1", help="the address to listen on (default 127.0.0.1)")
    sv.add_argument("--port", type=int, default=8000, help="the port (default 8000)")
    sv.add_argument("--allow-commands", action="store_true", help="browsers may pause, message, stop (default: view)")
    g = sv.add_mutually_exclusive_group()
    g.add_argument("-c", "--config", default=None, metavar="FILE")
    g.add_argument("--runs-dir", default=None, metavar="DIR")

    st = sub.add_parser("stop", help="stop an orchestra running in the background")
    g = st.add_mutually_exclusive_group()
    g.add_argument("-c", "--config", default=None, metavar="FILE")
    g.add_argument("--runs-dir", default=None, metavar="DIR")

    s = sub.add_parser("status", help="standings of a run, from its ledger")
    g = s.add_mutually_exclusive_group()
    g.add_argument("-c", "--config", default=None, metavar="FILE")
    g.add_argument("--runs-dir", default=None, metavar="DIR")
    s.add_argument("--json", action="store_true")
    s.add_argument("--board", action="store_true", help="each workspace's board: every pane's latest experiments")

    rep = sub.add_parser("report", help="progress plots (PNG) of a run")
    g = rep.add_mutually_exclusive_group()
    g.add_argument("-c", "--config", default=None, metavar="FILE")
    g.add_argument("--runs-dir", default=None, metavar="DIR")
    rep.add_argument("-o", "--output", default=None, metavar="FILE.png")
    rep.add_argument(
        "--html", nargs="?", const="", default=None, metavar="FILE.html", help="also write one self-contained page"
    )

    x = sub.add_parser("export", help="experiments and token usage as CSV or JSON lines, for a notebook")
    g = x.add_mutually_exclusive_group()
    g.add_argument("-c", "--config", default=None, metavar="FILE")
    g.add_argument("--runs-dir", default=None, metavar="DIR")
    x.add_argument("-o", "--output", required=True, metavar="FILE.csv|FILE.jsonl")

    i = sub.add_parser("init", help="write a commented example conductor.toml")
    i.add_argument("dir", nargs="?", default=".")

    e = sub.add_parser("exp", help="run an experiment from inside a pane's worktree (for CLI agents)")
    e.add_argument("-m", "--message", required=True, metavar="MESSAGE")

    v = sub.add_parser("verify", help="re-run a recorded commit N times and print the spread")
    v.add_argument("pane")
    v.add_argument("commit")
    v.add_argument("--runs", type=int, default=3, metavar="N")
    g = v.add_mutually_exclusive_group()
    g.add_argument("-c", "--config", default=None, metavar="FILE")
    g.add_argument("--runs-dir", default=None, metavar="DIR")

    ev = sub.add_parser("evolve", help="write the next program.md variant of a workspace from the ledger")
    ev.add_argument("workspace", nargs="?", default=None)
    ev.add_argument("--apply", action="append", default=[], metavar="PANE", help="hand the variant to this pane")
    ev.add_argument("--offline", action="store_true", help="rewrite the search section, even with an API key")
    g = ev.add_mutually_exclusive_group()
    g.add_argument("-c", "--config", default=None, metavar="FILE")
    g.add_argument("--runs-dir", default=None, metavar="DIR")

    ad = sub.add_parser("adopt", help="a pane's best commit onto a new branch of your own repo")
    ad.add_argument("pane", nargs="?", default=None, help="the pane (or --best)")
    ad.add_argument(
        "--best", nargs="?", const="", default=None, metavar="WORKSPACE", help="the best pane (of WORKSPACE)"
    )
    ad.add_argument("--squash", action="store_true", help="one commit listing the kept experiments")
    ad.add_argument("--branch", default=None, metavar="NAME", help="the new branch (default adopt/RUN/PANE)")
    ad.add_argument("--into", default=None, metavar="REPO", help="the repo (default: the workspace's own)")
    g = ad.add_mutually_exclusive_group()
    g.add_argument("-c", "--config", default=None, metavar="FILE")
    g.add_argument("--runs-dir", default=None, metavar="DIR")

    lv = sub.add_parser("live", help="change a running orchestra: add-pane, remove-pane, set, pause-all, resume-all")
    lv.add_argument(
        "action", metavar="ACTION", help="add-pane WS | remove-pane PANE | set KEY VALUE | pause-all | resume-all"
    )
    lv.add_argument("args", nargs="*", metavar="ARG")
    lv.add_argument("--workspace", default=None, metavar="WS", help="with set: one workspace's limit")
    g = lv.add_mutually_exclusive_group()
    g.add_argument("-c", "--config", default=None, metavar="FILE")
    g.add_argument("--runs-dir", default=None, metavar="DIR")

    sub.add_parser("doctor", help="check git, GPUs, API key and agent CLIs")
    return p


def main(argv: list[str] | None = None) -> int:
    words = sys.argv[1:] if argv is None else argv
    verb = words[0] if words and not words[0].startswith("-") else None
    parser = _parser(verb if verb in VERBS else None)
    args = parser.parse_args(argv)
    if args.verb is None:
        parser.print_help()
        return 2
    try:
        return _dispatch(args)
    except ConductorError as exc:
        print(f"conductor: {exc}", file=sys.stderr)
        return exc.exit_code
    except sqlite3.DatabaseError as exc:  # a ledger damaged after it was opened
        print(f"conductor: the ledger cannot be read ({exc}); nothing was changed", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:  # `conductor status | head -1`: the reader is gone, not an error
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0


def _positive(value: int | float | None, flag: str) -> None:
    if value is not None and value <= 0:
        raise ConductorError(f"{flag} must be positive, got {value}")


def _dispatch(args: argparse.Namespace) -> int:
    verb = args.verb
    if verb in ("demo", "run", "up"):
        _positive(getattr(args, "max_experiments", None), "--max-experiments")
    if verb == "demo":
        _positive(args.panes, "--panes")
        _positive(args.budget, "--budget")
        cfg = demo_config(args)
        if args.headless:
            return run_headless(cfg, args.max_experiments, as_json=args.json)
        return run_tui(cfg, args.max_experiments)
    if verb in ("run", "up"):
        from conductor.detach import live_orchestra, start_detached

        cfg = resolve_run_config(Path(args.config))
        if args.detach:
            check_agent_keys(cfg)
            return start_detached(Path(args.config), cfg.runs_dir, args.max_experiments)
        if verb == "up" and live_orchestra(cfg.runs_dir):
            return attach_tui(cfg.runs_dir)
        if verb == "up" and args.in_process:
            return run_tui(cfg, args.max_experiments)
        if verb == "up":
            return up_attached(Path(args.config), cfg, args.max_experiments)
        return run_headless(cfg, args.max_experiments, as_json=args.json)
    if verb == "attach":
        return attach_tui(_runs_dir(args), read_only=args.read_only)
    if verb == "serve":
        from conductor.serve import cmd_serve

        return cmd_serve(_runs_dir(args), args.host, args.port, args.allow_commands)
    if verb == "stop":
        from conductor.detach import cmd_stop

        return cmd_stop(_runs_dir(args))
    if verb == "status":
        return cmd_status(args)
    if verb == "init":
        return cmd_init(Path(args.dir))
    if verb == "report":
        from conductor.report import cmd_report

        return cmd_report(_run_to_read(args), args.output, args.html)
    if verb == "export":
        from conductor.export import cmd_export

        return cmd_export(_run_to_read(args), args.output)
    if verb == "exp":
        from conductor.core.control_client import cmd_exp

        return cmd_exp(args.message)
    if verb == "verify":
        from conductor.verify import cmd_verify

        return cmd_verify(_runs_dir(args), args.pane, args.commit, args.runs)
    if verb == "evolve":
        from conductor.evolve import cmd_evolve

        return cmd_evolve(_runs_dir(args), args.workspace, args.apply, args.offline)
    if verb == "adopt":
        from conductor.adopt import cmd_adopt

        return cmd_adopt(_runs_dir(args), args.pane, args.best, args.squash, args.branch, args.into)
    if verb == "live":
        from conductor.live_cli import cmd_live

        return cmd_live(_runs_dir(args), args.action, args.args, args.workspace)
    if verb == "doctor":
        from conductor.doctor import cmd_doctor

        return cmd_doctor()
    raise ConductorError(f"unknown verb {verb}")


# ---------------------------------------------------------------- configs


def demo_config(args: argparse.Namespace):
    import json
    import shlex
    import tomllib

    from conductor.config import bundled_workspaces_dir, default_agent_kind, load_config, parse_config
    from conductor.config.trust_defaults import trust_for

    runs_dir = Path(args.runs_dir).resolve()
    layout = RunDir(runs_dir)
    if layout.config.is_file() and layout.has_ledger():
        return load_config(layout.config)
    kind = args.agent or default_agent_kind()
    if args.agent is None and kind == "optuna":
        print("conductor: no ANTHROPIC_API_KEY set: the demo uses the offline optuna agent", file=sys.stderr)
    ws = bundled_workspaces_dir() / "tinygpt"
    budget = (
        f"time_budget_s = {args.budget:g}\ntimeout_s = {max(args.budget * 3, args.budget + 60):g}\n"
        if args.budget
        else ""
    )
    # the demo shows results you can trust: a noise floor and verified keeps, sized to its budget
    own_budget = tomllib.loads((ws / "workspace.toml").read_text(encoding="utf-8"))["time_budget_s"]
    trust = "".join(f"{k} = {v}\n" for k, v in trust_for(args.budget or own_budget).items())
    # conductor's own interpreter has torch (a dependency); a bare `python` on PATH may not
    run = json.dumps(f"{shlex.quote(sys.executable)} train.py")
    text = (
        f'[conductor]\nruns_dir = "{runs_dir}"\nslots = "auto"\ncpu_slots = 1\n\n'
        f'[agent]\nkind = "{kind}"\n\n'
        f'[prices."claude-sonnet-4-5"]\ninput = 3.0\noutput = 15.0\ncache_write = 3.75\ncache_read = 0.30\n\n'
        f'[[workspace]]\nname = "tinygpt"\npath = "{ws}"\nrun = {run}\npanes = {args.panes}\n{budget}{trust}'
    )
    return parse_config(text, Path.cwd() / "demo.toml")


def resolve_run_config(path: Path):
    """The config to run: the given file; when resuming, the same, if it only adds to the saved one."""
    from conductor.config import load_config
    from conductor.config.resume import config_for_resume

    cfg = load_config(path)
    layout = RunDir(cfg.runs_dir)
    if layout.config.is_file() and layout.has_ledger():
        return config_for_resume(load_config(layout.config), cfg)
    return cfg


DEFAULT_RUNS_DIR = ".conductor"  # the schema's default (conductor/config/schema.py Config.runs_dir)


def _run_to_read(args: argparse.Namespace) -> Path:
    """The run dir a reader (status, report, export) opens: the config's `runs_dir` read with
    tomllib alone when a run is there, which spares the whole config's import and checks
    (most of `status`'s time); anything else takes `_runs_dir`, with its errors."""
    if getattr(args, "runs_dir", None) or args.config is None:
        return _runs_dir(args)
    import tomllib

    path = Path(args.config)
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8")).get("conductor", {}).get("runs_dir", DEFAULT_RUNS_DIR)
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError, AttributeError):
        return _runs_dir(args)
    if isinstance(raw, str):
        where = Path(os.path.expanduser(raw))
        where = (where if where.is_absolute() else path.resolve().parent / where).resolve()
        if RunDir(where).has_ledger():
            return where
    return _runs_dir(args)


def _runs_dir(args: argparse.Namespace) -> Path:
    if getattr(args, "runs_dir", None):
        return Path(args.runs_dir).resolve()
    from conductor.config import load_config

    config = args.config or "conductor.toml"
    if args.config is None and not Path(config).is_file() and RunDir(Path(DEMO_RUNS_DIR)).has_ledger():
        return Path(DEMO_RUNS_DIR).resolve()
    return load_config(config).runs_dir


# ---------------------------------------------------------------- verbs


def check_agent_keys(cfg) -> None:
    for pane in cfg.panes:
        if pane.agent.kind == "anthropic" and not os.environ.get("ANTHROPIC_API_KEY"):
            raise ConductorError(
                f"pane '{pane.name}' uses the anthropic agent but ANTHROPIC_API_KEY is not set: "
                'export ANTHROPIC_API_KEY=... or set agent = { kind = "optuna" } on its workspace',
                cfg.source,
            )


def run_headless(cfg, max_experiments: int | None, as_json: bool = False) -> int:
    import asyncio

    from conductor.agents.base import create_agent
    from conductor.core.orchestra import Orchestra
    from conductor.printer import Printer

    check_agent_keys(cfg)
    from conductor.evolve import tournament
    from conductor.notify import attach

    orch = Orchestra(cfg, agent_factory=create_agent, max_experiments=max_experiments, evolver=tournament)
    orch.bus.subscribe(Printer(as_json=as_json))
    orch.open()
    notifier = attach(orch)
    try:
        return asyncio.run(_drive(orch))
    finally:
        if notifier is not None:
            notifier.close()
        orch.close()


async def _drive(orch) -> int:
    import asyncio
    import signal

    loop = asyncio.get_running_loop()
    interrupted = {"count": 0}

    def on_signal() -> None:
        interrupted["count"] += 1
        if interrupted["count"] > 1:
            os._exit(130)
        print("conductor: stopping (experiments in flight are killed and recorded) ...", file=sys.stderr)
        orch.stop()

    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, on_signal)
    try:
        await orch.run()
    finally:
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(sig)
    if interrupted["count"]:
        return 130
    if orch.failure:
        return 1
    failed = [p.name for p in orch.panes.values() if p.state == "error"]
    return 1 if failed else 0


def run_tui(cfg, max_experiments: int | None) -> int:
    try:
        from conductor.ui.launch import run_app
    except ImportError as exc:
        raise ConductorError(f"the TUI is not available ({exc}); use --headless") from None
    check_agent_keys(cfg)
    from conductor.agents.base import create_agent
    from conductor.evolve import tournament

    return run_app(cfg, max_experiments, create_agent, evolver=tournament)


def up_attached(config: Path, cfg, max_experiments: int | None) -> int:
    """`conductor up`: the orchestra in a process of its own, the TUI a client of it (tmux's
    model), so no drawing ever delays a hand-off. Closing the terminal or `d` detaches; `q`
    asks whether to stop the orchestra or leave it running."""
    from conductor.detach import live_orchestra, start_detached

    check_agent_keys(cfg)
    start_detached(config, cfg.runs_dir, max_experiments, quiet=True)
    code = attach_tui(cfg.runs_dir)
    hello = live_orchestra(cfg.runs_dir)
    if hello:
        print(
            f"the orchestra runs on in the background (pid {hello.get('pid')}): "
            f"`conductor up -c {config}` attaches again, `conductor stop -c {config}` stops it"
        )
    return code


def attach_tui(run_dir: Path, read_only: bool = False) -> int:
    from conductor.detach import live_orchestra

    if live_orchestra(run_dir) is None:
        raise ConductorError(f"no conductor is running for {run_dir}; start one with `conductor up --detach`")
    try:
        from conductor.ui.launch import attach_app
    except ImportError as exc:
        raise ConductorError(f"the TUI is not available ({exc})") from None
    return attach_app(run_dir, read_only)


def cmd_status(args: argparse.Namespace) -> int:
    import json

    from conductor.core.ledger import Ledger
    from conductor.status import board_status, pane_status, render_board, render_table

    run_dir = _run_to_read(args)
    ledger = Ledger.reader(run_dir)
    try:
        status = pane_status(ledger)
        if args.board:
            status["boards"] = board_status(ledger)
            board_text = render_board(ledger)
    finally:
        ledger.close()
    if args.json:
        print(json.dumps(status, indent=2))
    elif args.board:
        print(board_text)
    else:
        print(render_table(status, run_dir))
    return 0


def cmd_init(folder: Path) -> int:
    from conductor.config import example_config

    folder.mkdir(parents=True, exist_ok=True)
    dest = folder / "conductor.toml"
    if dest.exists():
        raise ConductorError(f"{dest} already exists; not overwriting it")
    dest.write_text(example_config(), encoding="utf-8")
    print(f"wrote {dest}; edit it, then `conductor up` (TUI) or `conductor run` (headless)")
    return 0
