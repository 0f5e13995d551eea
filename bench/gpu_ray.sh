#!/usr/bin/env bash
# The GPU as a Ray slot (device machine): a Ray head on 127.0.0.1 with the machine's GPU, the
# bundled tinygpt workspace on it through `slots = "ray"`, sandbox on, 2 Optuna panes.
# Run from the repo root with py3.12 wheels in .carry/whl, Ray (less its Java, RLlib, Serve,
# Tune, Train and Data parts) in .carry/ray/ray-min.tar.xz and the bubblewrap .debs in
# .carry/deb. Checks placement (every experiment on the Ray slot, its process on the GPU
# attributed to the pane holding the slot) and writes its results under $OUT.
set -u
OUT=${OUT:-$PWD/gpu-ray-out}; mkdir -p "$OUT"
export RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER=0 RAY_USAGE_STATS_ENABLED=0
. bench/gpu_carry.sh
tar xJf .carry/ray/ray-min.tar.xz -C /tmp/site || exit 1
{ nvidia-smi -L; python3 --version; python3 -c 'import ray, torch; print("ray", ray.__version__, "torch", torch.__version__)'; } > "$OUT/env.txt" 2>&1
python3 -m ray.scripts.scripts start --head --node-ip-address=127.0.0.1 --port=6390 --num-gpus=1 \
  --include-dashboard=false --disable-usage-stats > "$OUT/ray_start.txt" 2>&1 || { cat "$OUT/ray_start.txt"; exit 1; }
W=/tmp/rayrun; rm -rf $W; mkdir -p $W
cat > $W/conductor.toml <<TOML
[conductor]
runs_dir = "$W/run"
slots = "ray"
ray_address = "127.0.0.1:6390"
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
python3 -m conductor status -c $W/conductor.toml --json > "$OUT/status.json" 2>&1
python3 - $W/events.jsonl > "$OUT/run_summary.txt" 2>&1 <<'PY'
import json, sys
ev = [json.loads(l) for l in open(sys.argv[1]) if l.startswith("{")]
started = [e for e in ev if e["type"] == "run_started"][0]
print("slots", started["slots"], "sandbox", repr(started["sandbox"]))
fin = [e for e in ev if e["type"] == "experiment_finished"]
for e in fin:
    print(e["pane"], e["seq"], e["status"], e["metric"], e["slot"], round(e["duration_s"], 1))
samples = [e for e in ev if e["type"] == "slot_sample"]
with_util = [e for e in samples if e.get("util") is not None]
procs = [(e["pane"], p) for e in samples for p in e.get("extra", {}).get("processes", [])]
print("slot samples", len(samples), "with NVML util", len(with_util), "max util", max((e["util"] for e in with_util), default=None))
print("GPU processes seen", len(procs), "attributed to the slot's holder", sum(1 for holder, p in procs if p["pane"] == holder),
      "panes", sorted({p["pane"] for _, p in procs if p["pane"]}))
print("every experiment on a Ray slot:", all(":" in e["slot"] for e in fin), sorted({e["slot"] for e in fin}))
print("alerts", [e["message"] for e in ev if e["type"] == "alert"][:6])
PY
for f in $W/run/logs/tinygpt-1/000[12]-*.log; do tail -n 9 "$f"; done > "$OUT/log_tails.txt" 2>&1
python3 -m ray.scripts.scripts stop > /dev/null 2>&1
cat "$OUT/run_summary.txt"
