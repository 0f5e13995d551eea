"""
Probe the bundled tinygpt workspace: run train.py with its defaults and with random knob
settings sampled from workspace.toml (what the first ~10 trials of a TPE search look like),
and print each val_bpb relative to the baseline.

Each run happens in a temporary copy of the workspace whose train.py constants are rewritten
in place. Runs are sequential (one experiment at a time keeps timings honest).

    python bench/tinygpt_probe.py                      # baseline + 8 random settings, 20 s each
    python bench/tinygpt_probe.py -n 0 --seeds 0 1     # baseline only, two seeds
    python bench/tinygpt_probe.py -n 0 --set DEPTH=2 --set WIDTH=64 --set LEARNING_RATE=1e-2
    python bench/tinygpt_probe.py -n 0 --tpe 12          # baseline + a real 12-trial optuna TPE search
"""

import argparse
import math
import os
import random
import re
import shutil
import subprocess
import sys
import tempfile
import time
import tomllib

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
WORKSPACE = os.path.join(ROOT, "workspaces", "tinygpt")


def load_knobs(workspace):
    with open(os.path.join(workspace, "workspace.toml"), "rb") as f:
        return tomllib.load(f).get("knob", [])


def sample(knobs, rng):
    out = {}
    for k in knobs:
        lo, hi, log = k["low"], k["high"], k.get("log", False)
        if k["type"] == "int":
            if log:
                v = min(max(int(round(math.exp(rng.uniform(math.log(lo), math.log(hi))))), lo), hi)
            else:
                v = rng.randint(lo, hi)
        else:
            v = math.exp(rng.uniform(math.log(lo), math.log(hi))) if log else rng.uniform(lo, hi)
            v = float(f"{v:.4g}")
        out[k["name"]] = v
    return out


def rewrite(src, values):
    for name, value in values.items():
        pat = re.compile(rf"^({re.escape(name)}\s*=\s*)([^#\n]*?)(\s*(#.*)?)$", re.M)
        src, n = pat.subn(lambda m, v=value: f"{m.group(1)}{v!r}{m.group(3)}", src, count=1)
        if n != 1:
            raise SystemExit(f"constant {name} not found in train.py")
    return src


def run_once(values, seed, budget, workspace, python):
    tmp = tempfile.mkdtemp(prefix="tinygpt-probe-")
    try:
        for fn in ("prepare.py", "train.py"):
            shutil.copy(os.path.join(workspace, fn), tmp)
        path = os.path.join(tmp, "train.py")
        with open(path) as f:
            src = f.read()
        with open(path, "w") as f:
            f.write(rewrite(src, values))
        env = dict(
            os.environ,
            TIME_BUDGET=str(budget),
            OPENBLAS_NUM_THREADS="1",
            CONDUCTOR_THREADS="2",
            CONDUCTOR_SEED=str(seed),
        )
        t0 = time.time()
        p = subprocess.run([python, "train.py"], cwd=tmp, env=env, capture_output=True, text=True)
        wall = time.time() - t0
        summary = (
            dict(re.findall(r"^(\w+):\s+(\S+)$", p.stdout.split("\n---\n")[-1], re.M)) if "\n---\n" in p.stdout else {}
        )
        return p.returncode, summary, wall, (p.stdout + p.stderr)[-800:]
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def fmt(values):
    return " ".join(f"{k}={v:.3g}" if isinstance(v, float) else f"{k}={v}" for k, v in values.items())


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("-n", type=int, default=8, help="number of random knob settings (default 8)")
    ap.add_argument("--sample-seed", type=int, default=0, help="RNG seed for knob sampling")
    ap.add_argument("--seeds", type=int, nargs="+", default=[0], help="CONDUCTOR_SEED values for the baseline")
    ap.add_argument("--budget", type=float, default=20, help="TIME_BUDGET seconds (default 20)")
    ap.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="extra fixed setting to run (repeatable; all --set form one run)",
    )
    ap.add_argument("--no-baseline", action="store_true")
    ap.add_argument(
        "--tpe",
        type=int,
        default=0,
        metavar="N",
        help="after the other runs, run an N-trial optuna TPE search over the knobs",
    )
    ap.add_argument("--workspace", default=WORKSPACE)
    args = ap.parse_args()

    knobs = load_knobs(args.workspace)
    rng = random.Random(args.sample_seed)
    runs = []
    if not args.no_baseline:
        runs += [(f"baseline seed={s}", {}, s) for s in args.seeds]
    if args.set:
        vals = {}
        for item in args.set:
            name, value = item.split("=", 1)
            vals[name] = eval(value, {})  # literal such as 1e-2 or 64
        runs.append(("manual", vals, args.seeds[0]))
    runs += [(f"random {i}", sample(knobs, rng), args.seeds[0]) for i in range(args.n)]

    print(f"knobs: {', '.join(k['name'] for k in knobs)} | budget {args.budget:g}s | python {sys.executable}")
    base, results = None, []
    for label, values, seed in runs:
        rc, summary, wall, tail = run_once(values, seed, args.budget, args.workspace, sys.executable)
        bpb = float(summary["val_bpb"]) if rc == 0 and "val_bpb" in summary else None
        if label.startswith("baseline") and bpb is not None and base is None:
            base = bpb
        rel = f"{100 * (bpb - base) / base:+6.1f}%" if (bpb is not None and base) else "   n/a"
        shown = f"{bpb:.4f}" if bpb is not None else f"FAIL(rc={rc})"
        print(
            f"{label:18s} val_bpb {shown:>12s} {rel} | steps {summary.get('num_steps', '-'):>5s} "
            f"| params {summary.get('num_params_M', '-')}M | wall {wall:5.1f}s | {fmt(values)}",
            flush=True,
        )
        if bpb is None and rc != 0:
            print("    " + tail.strip().replace("\n", "\n    "))
        results.append((label, bpb))
    if args.tpe:
        import optuna

        optuna.logging.set_verbosity(optuna.logging.WARNING)

        def objective(trial):
            values = {}
            for k in knobs:
                suggest = trial.suggest_int if k["type"] == "int" else trial.suggest_float
                values[k["name"]] = suggest(k["name"], k["low"], k["high"], log=k.get("log", False))
            rc, summary, wall, tail = run_once(values, args.seeds[0], args.budget, args.workspace, sys.executable)
            bpb = float(summary["val_bpb"]) if rc == 0 and "val_bpb" in summary else None
            rel = f"{100 * (bpb - base) / base:+6.1f}%" if (bpb is not None and base) else "   n/a"
            shown = f"{bpb:.4f}" if bpb is not None else f"FAIL(rc={rc})"
            print(
                f"{'tpe ' + str(trial.number):18s} val_bpb {shown:>12s} {rel} | steps "
                f"{summary.get('num_steps', '-'):>5s} | wall {wall:5.1f}s | {fmt(values)}",
                flush=True,
            )
            return bpb if bpb is not None else float("inf")

        study = optuna.create_study(direction="minimize", sampler=optuna.samplers.TPESampler(seed=args.sample_seed))
        study.optimize(objective, n_trials=args.tpe)
        best = study.best_value
        print(
            f"tpe best {best:.4f}"
            + (f" ({100 * (best - base) / base:+.1f}% vs baseline {base:.4f})" if base else "")
            + f" | {fmt(study.best_params)}"
        )

    rand = [b for lbl, b in results if lbl.startswith("random")]
    if base and rand:
        ok = [b for b in rand if b is not None]
        wins = sum(b < 0.98 * base for b in ok)
        print(
            f"baseline {base:.4f} | best random {min(ok):.4f} ({100 * (min(ok) - base) / base:+.1f}%) | "
            f"{wins}/{len(rand)} random settings beat baseline by >2% | {len(rand) - len(ok)} failed"
        )


if __name__ == "__main__":
    main()
