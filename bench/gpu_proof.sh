#!/usr/bin/env bash
# GPU proof on the device machine: run from the repo root with the wheels in .whl/ and the
# tmux debs in .tmuxdeb/. Writes everything under $OUT (or ./gpu-proof-out).
set -u
FINAL=${OUT:-$PWD/gpu-proof-out}; mkdir -p "$FINAL"
OUT=/tmp/proof-out; rm -rf $OUT; mkdir -p $OUT   # at most 8 files go back: collected at the end
export PYTHONUNBUFFERED=1
git --version || { echo "no git on this machine"; exit 3; }
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl || exit 1
export PYTHONPATH=/tmp/site:$PWD
mkdir -p /tmp/tmuxroot && for f in .tmuxdeb/*.deb; do dpkg -x "$f" /tmp/tmuxroot; done
export LD_LIBRARY_PATH=/tmp/tmuxroot/usr/lib/x86_64-linux-gnu; TMUX_BIN=/tmp/tmuxroot/usr/bin/tmux
{ nvidia-smi -L; git --version; python3 --version; python3 -c 'import torch; print("torch", torch.__version__, torch.cuda.device_count())'; } 2>&1 | tee "$OUT/env.txt"
python3 -m conductor doctor 2>&1 | tee "$OUT/doctor.txt"
python3 bench/gpu_sampler.py 2>&1 | tee "$OUT/sampler.txt"
NGPU=$(nvidia-smi -L | wc -l)
# A: 2 panes share GPU 0, the bundled tinygpt on CUDA with a 30 s budget
W=/tmp/proofA; rm -rf $W; mkdir -p $W
cat > $W/conductor.toml <<TOML
[conductor]
runs_dir = "$W/run"
slots = [0]
[[workspace]]
name = "tinygpt"
path = "$PWD/workspaces/tinygpt"
panes = 2
time_budget_s = 30
timeout_s = 120
agent = { kind = "optuna" }
TOML
python3 workspaces/tinygpt/prepare.py > "$OUT/prepare.txt" 2>&1
python3 -m conductor run -c $W/conductor.toml --max-experiments ${A_EXPERIMENTS:-3} --json > "$OUT/a_events.jsonl" 2> "$OUT/a_stderr.txt"
python3 -m conductor status -c $W/conductor.toml --json > "$OUT/a_status.json"
python3 -m conductor status -c $W/conductor.toml > "$OUT/a_status.txt"
python3 bench/gpu_analyze.py "$OUT/a_events.jsonl" "$OUT/a_status.json" > "$OUT/a_analysis.txt" 2>&1
if [ "$NGPU" -ge 2 ]; then
  # B: 3 panes over 2 GPU slots, a placement probe that reports what torch could see
  W=/tmp/proofB; rm -rf $W; mkdir -p $W
  cat > $W/conductor.toml <<TOML
[conductor]
runs_dir = "$W/run"
slots = "auto"
[[workspace]]
name = "probe"
path = "$PWD/bench/gpuws"
panes = 3
time_budget_s = 10
timeout_s = 120
agent = { kind = "optuna" }
TOML
  python3 -m conductor run -c $W/conductor.toml --max-experiments 3 --json > "$OUT/b_events.jsonl" 2> "$OUT/b_stderr.txt"
  python3 -m conductor status -c $W/conductor.toml --json > "$OUT/b_status.json"
  python3 bench/gpu_analyze.py "$OUT/b_events.jsonl" "$OUT/b_status.json" > "$OUT/b_analysis.txt" 2>&1
  python3 - "$OUT/b_events.jsonl" > "$OUT/b_placement.txt" <<'PY'
import json, sys, glob
ev = [json.loads(l) for l in open(sys.argv[1]) if l.startswith("{")]
uuids = {}
for e in ev:
    if e["type"] == "run_started":
        pass
ok = bad = 0
import sqlite3
db = sqlite3.connect("/tmp/proofB/run/ledger.db")
for pane, seq, slot, summary in db.execute("SELECT pane, seq, slot, summary FROM experiments ORDER BY started_at"):
    s = json.loads(summary)
    line = f"{pane} #{seq} slot {slot}: visible_devices={s.get('visible_devices')} gpu_uuid={s.get('gpu_uuid')} CUDA_VISIBLE_DEVICES={s.get('cuda_visible')}"
    good = s.get("visible_devices") == 1.0 and s.get("gpu_uuid") == s.get("cuda_visible")
    ok += good; bad += not good
    print(("ok   " if good else "BAD  ") + line)
print(f"{ok} experiments saw exactly their slot's GPU, {bad} did not")
PY
  # the TUI on the same run dir (resumed), captured through tmux
  $TMUX_BIN new-session -d -s proof -x 200 -y 50 "cd $W && PYTHONPATH=$PYTHONPATH python3 -m conductor up -c $W/conductor.toml --max-experiments 6" && sleep ${TUI_WAIT:-40}
  $TMUX_BIN capture-pane -p -t proof > "$OUT/tui_2gpu_200x50.txt" 2>&1
  $TMUX_BIN kill-server 2>/dev/null
fi
for f in env doctor sampler a_analysis a_status b_analysis b_placement; do
  [ -f "$OUT/$f.txt" ] && { echo "===== $f"; cat "$OUT/$f.txt"; }
done > "$FINAL/summary.txt"
cat "$OUT"/*stderr.txt "$OUT/prepare.txt" > "$FINAL/stderr.txt" 2>/dev/null
cp "$OUT"/a_events.jsonl "$OUT"/a_status.json "$FINAL"/ 2>/dev/null
cp "$OUT"/b_events.jsonl "$OUT"/b_status.json "$OUT"/tui_2gpu_200x50.txt "$FINAL"/ 2>/dev/null
ls -la "$FINAL"
