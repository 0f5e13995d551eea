#!/usr/bin/env bash
# The sandbox on a real GPU (device machine): run from the repo root with py3.12 wheels in
# .carry/whl and the bubblewrap .debs in .carry/deb. Writes its results under $OUT.
set -u
OUT=${OUT:-$PWD/gpu-sandbox-out}; mkdir -p "$OUT"
. bench/gpu_carry.sh
{ nvidia-smi -L; uname -a; bwrap --version; python3 --version; python3 -c 'import torch; print("torch", torch.__version__, torch.cuda.device_count())'; python3 -m conductor doctor; } > "$OUT/env.txt" 2>&1
python3 bench/sandbox_probe.py --runs 40 --json "$OUT/probe.json" > "$OUT/probe.txt" 2>&1
# the whole loop, sandbox required: tinygpt on CUDA, 2 panes on the one GPU, optuna
W=/tmp/sbxrun; rm -rf $W; mkdir -p $W
cat > $W/conductor.toml <<TOML
[conductor]
runs_dir = "$W/run"
slots = "auto"
sandbox = "on"
[[workspace]]
name = "tinygpt"
path = "$PWD/workspaces/tinygpt"
panes = 2
time_budget_s = 20
timeout_s = 120
agent = { kind = "optuna" }
TOML
timeout 420 python3 -m conductor run -c $W/conductor.toml --max-experiments 3 --json > $W/events.jsonl 2> "$OUT/run_stderr.txt"
echo "exit $?" >> "$OUT/run_stderr.txt"
python3 -m conductor status -c $W/conductor.toml > "$OUT/status.txt" 2>&1
python3 - $W/events.jsonl > "$OUT/run_summary.txt" 2>&1 <<'PY'
import json, sys, collections
ev = [json.loads(l) for l in open(sys.argv[1]) if l.startswith("{")]
fin = [e for e in ev if e["type"] == "experiment_finished"]
for e in fin:
    print(e["pane"], e["seq"], e["status"], e["metric"], e["slot"], round(e["duration_s"], 1))
samples = [e for e in ev if e["type"] == "slot_sample" and e.get("util") is not None]
busy = [e for e in samples if e["pane"]]
print("slot samples", len(samples), "with a pane", len(busy), "panes seen", sorted({e["pane"] for e in busy}))
print("max util", max((e["util"] for e in samples), default=None))
print("alerts", [e["message"] for e in ev if e["type"] == "alert"][:6])
PY
for f in $W/run/logs/tinygpt-1/0001-*.log; do tail -n 12 "$f"; done > "$OUT/baseline_log_tail.txt" 2>&1
