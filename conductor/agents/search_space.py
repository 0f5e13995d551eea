"""program.md's search section: what the offline Optuna agent tunes, and how.

An LLM agent reads program.md's prose; the Optuna agent reads one fenced block of it, so
that a program variant (written by the researcher with `e`, or by `conductor evolve`)
changes what the offline search does:

    ```toml conductor-search
    n_startup_trials = 5          # random trials before the sampler models the history
    sampler = "tpe"               # "tpe" (the default) or "gp" (a Gaussian process)
    [knobs.LEARNING_RATE]         # only the knobs listed here are tuned
    low = 3e-4
    high = 3e-3
    log = true
    ```

Each knob must be one the workspace declares ([[knob]] in workspace.toml), and its range
stays inside the declared one (a wider range is clipped, with a note): the declared knobs
and ranges are the researcher's, a program only chooses among them. A knob left out keeps
the value it has in the file. No section: every declared knob over its declared range.
A section that does not parse is ignored with a note, so a typo never stops a pane.
`sampler = "gp"` models the trials with Optuna's GPSampler (it needs torch and scipy; where
either is missing the pane says so and keeps TPE), see agents/optuna_sampler.py.
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass, replace

from conductor.config import Knob

DEFAULT_STARTUP_TRIALS = 5
SAMPLERS = ("tpe", "gp")
FENCE = re.compile(r"^```toml conductor-search[ \t]*\n(.*?)^```[ \t]*$", re.S | re.M)


@dataclass(frozen=True)
class Search:
    knobs: tuple[Knob, ...]
    n_startup_trials: int = DEFAULT_STARTUP_TRIALS
    from_program: bool = False  # False: no section, the workspace's knobs as declared
    notes: tuple[str, ...] = ()  # what of the section was ignored or clipped, and why
    sampler: str = "tpe"  # one of SAMPLERS

    def describe(self) -> str:
        knobs = ", ".join(_range_text(k) for k in self.knobs)
        where = "program.md's search section" if self.from_program else "the workspace's knobs"
        model = " by a Gaussian process" if self.sampler == "gp" else ""
        return f"{where}{model}: {knobs}; {self.n_startup_trials} startup trials"


def _range_text(k: Knob) -> str:
    return f"{k.name} [{k.low:g}, {k.high:g}{', log' if k.log else ''}]"


def section_of(program: str) -> str | None:
    m = FENCE.search(program)
    return m.group(1) if m else None


def search_from(program: str, declared: tuple[Knob, ...]) -> Search:
    """The search `program` asks for, within what the workspace declares."""
    body = section_of(program)
    if body is None:
        return Search(declared)
    try:
        data = tomllib.loads(body)
    except tomllib.TOMLDecodeError as exc:
        return Search(declared, notes=(f"program.md's search section does not parse ({exc}): ignored",))
    notes: list[str] = []
    startup = data.get("n_startup_trials", DEFAULT_STARTUP_TRIALS)
    if not isinstance(startup, int) or isinstance(startup, bool) or startup < 0:
        notes.append(f"n_startup_trials = {startup!r} is not a count: {DEFAULT_STARTUP_TRIALS} used")
        startup = DEFAULT_STARTUP_TRIALS
    sampler = data.get("sampler", "tpe")
    if sampler not in SAMPLERS:
        notes.append(f"sampler = {sampler!r} is not one of {', '.join(SAMPLERS)}: tpe used")
        sampler = "tpe"
    by_name = {k.name: k for k in declared}
    asked = data.get("knobs", {})
    if not isinstance(asked, dict) or not asked:
        return Search(
            declared, startup, True, (*notes, "the search section lists no [knobs.NAME]: every knob tuned"), sampler
        )
    knobs = []
    for name, spec in asked.items():
        knob = by_name.get(name)
        if knob is None:
            notes.append(f"knob {name} is not declared in workspace.toml: ignored")
            continue
        spec = spec if isinstance(spec, dict) else {}
        knobs.append(_within(knob, spec, notes))
    if not knobs:
        return Search(declared, startup, True, (*notes, "no declared knob left: every knob tuned"), sampler)
    return Search(tuple(knobs), startup, True, tuple(notes), sampler)


def _within(knob: Knob, spec: dict, notes: list[str]) -> Knob:
    """The knob with the section's range, clipped to the declared one."""
    low, high = spec.get("low", knob.low), spec.get("high", knob.high)
    log = spec.get("log", knob.log)
    if not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in (low, high)):
        notes.append(f"{knob.name}: low/high are not numbers: the declared range used")
        return knob
    clipped = (max(float(low), knob.low), min(float(high), knob.high))
    if clipped != (float(low), float(high)):
        notes.append(f"{knob.name}: [{low:g}, {high:g}] clipped to the declared [{knob.low:g}, {knob.high:g}]")
    low, high = clipped
    if knob.type == "int":
        low, high = float(int(round(low))), float(int(round(high)))
    if low >= high:
        notes.append(f"{knob.name}: an empty range [{low:g}, {high:g}]: the declared range used")
        return knob
    log = bool(log) and low > 0
    return replace(knob, low=low, high=high, log=log)


def render(search: Search, header: str = "") -> str:
    """The fenced block for `search` (what `conductor evolve` writes)."""
    lines = ["```toml conductor-search"]
    if header:
        lines += [f"# {ln}" for ln in header.splitlines()]
    lines.append(f"n_startup_trials = {search.n_startup_trials}")
    if search.sampler != "tpe":
        lines.append(f'sampler = "{search.sampler}"')
    for k in search.knobs:
        lines += [f"[knobs.{k.name}]", f"low = {_number(k, k.low)}", f"high = {_number(k, k.high)}"]
        if k.log:
            lines.append("log = true")
    lines.append("```")
    return "\n".join(lines)


def _number(knob: Knob, value: float) -> str:
    return str(int(value)) if knob.type == "int" else format(value, ".6g")


def with_section(program: str, block: str) -> str:
    """`program` with its search section replaced by `block`, or `block` appended."""
    m = re.search(r"^```toml conductor-search[ \t]*\n.*?^```[ \t]*$", program, re.S | re.M)
    if m:
        return program[: m.start()] + block + program[m.end() :]
    return program.rstrip("\n") + "\n\n## Search (the offline agent follows this)\n\n" + block + "\n"
