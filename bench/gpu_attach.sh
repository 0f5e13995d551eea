#!/usr/bin/env bash
# On the device machine (2 GPUs): a detached orchestra, 3 panes over 2 GPU slots (the
# placement probe workspace), a TUI attached to it in tmux at 200x50 and captured twice
# (running, then after the terminal was killed and a new one attached), then a clean stop.
# Needs the wheels in .whl/ and the tmux debs in .tmuxdeb/ (see gpu_proof.sh).
set -u
FINAL=${OUT:-$PWD/gpu-attach-out}; mkdir -p "$FINAL"
export PYTHONUNBUFFERED=1
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl || exit 1
export PYTHONPATH=/tmp/site:$PWD
mkdir -p /tmp/tmuxroot && for f in .tmuxdeb/*.deb; do dpkg -x "$f" /tmp/tmuxroot; done
export LD_LIBRARY_PATH=/tmp/tmuxroot/usr/lib/x86_64-linux-gnu; TMUX=; T=/tmp/tmuxroot/usr/bin/tmux
W=/tmp/attach; rm -rf $W; mkdir -p $W
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
{ nvidia-smi -L; python3 -m conductor up -c $W/conductor.toml --detach --max-experiments ${EXPERIMENTS:-8}; } > "$FINAL/log.txt" 2>&1
$T -L one new-session -d -s one -x 200 -y 50 "cd $W && PYTHONPATH=$PYTHONPATH python3 -m conductor attach --runs-dir $W/run"
sleep ${FIRST_WAIT:-35}
$T -L one capture-pane -p -t one > "$FINAL/tui_attached_200x50.txt"
$T -L one kill-server   # the terminal goes away; the orchestra must not
sleep 15
python3 -m conductor status --runs-dir $W/run >> "$FINAL/log.txt" 2>&1
$T -L two new-session -d -s two -x 200 -y 50 "cd $W && PYTHONPATH=$PYTHONPATH python3 -m conductor up -c $W/conductor.toml"
sleep ${SECOND_WAIT:-15}
$T -L two capture-pane -p -t two > "$FINAL/tui_reattached_200x50.txt"
$T -L two kill-server
python3 -m conductor stop --runs-dir $W/run >> "$FINAL/log.txt" 2>&1
python3 -m conductor status --runs-dir $W/run --json > "$FINAL/status.json" 2>&1
python3 -m conductor status --runs-dir $W/run >> "$FINAL/log.txt" 2>&1
sqlite3 -version >/dev/null 2>&1; python3 - >> "$FINAL/log.txt" <<'PY'
import json, sqlite3
db = sqlite3.connect("/tmp/attach/run/ledger.db")
ok = bad = 0
for pane, seq, slot, summary in db.execute("SELECT pane, seq, slot, summary FROM experiments ORDER BY started_at"):
    s = json.loads(summary or "{}")
    if not s:
        continue  # interrupted by the stop: nothing ran to the end to report
    good = s.get("visible_devices") == 1.0 and s.get("gpu_uuid") == s.get("cuda_visible")
    ok += good; bad += not good
print(f"placement: {ok} experiments saw exactly their slot's GPU, {bad} did not")
PY
tail -5 $W/run/conductor.log >> "$FINAL/log.txt" 2>&1
ls -la "$FINAL"
