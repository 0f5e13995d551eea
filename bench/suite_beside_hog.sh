#!/usr/bin/env bash
# The test suite three times in a row beside a CPU hog (issue 19, item 8): a busy loop on one
# core the whole time; two runs in a detached worktree of HEAD, then the clean-clone CI
# (.ci/run installs everything itself). One line a run in $OUT/summary.txt.
#   bash bench/suite_beside_hog.sh        (from the repo root, with the test extras in .venv)
set -u
REPO=$PWD; OUT=${OUT:-/tmp/suite-beside-hog}; WT=$OUT/worktree; CLONE=$OUT/clone
mkdir -p "$OUT"; rm -f "$OUT/summary.txt"
git worktree remove --force "$WT" 2>/dev/null; git worktree add -q --detach "$WT" HEAD
. "$REPO/.venv/bin/activate"
python3 -c "while True: pass" &
HOG=$!
trap 'kill $HOG 2>/dev/null' EXIT
for i in 1 2; do
  start=$(date +%s)
  (cd "$WT" && PYTHONPATH="$WT" timeout 1800 python -m pytest -q -p no:cacheprovider > "$OUT/run$i.log" 2>&1)
  echo "run $i rc=$? wall=$(( $(date +%s) - start ))s load=$(cut -d' ' -f1-3 /proc/loadavg) $(git -C "$WT" log --oneline -1 | cut -c1-7)" >> "$OUT/summary.txt"
  pkill -f raylet; pkill -f gcs_server
done
deactivate
rm -rf "$CLONE" && git clone -q "$REPO" "$CLONE" && start=$(date +%s)
(cd "$CLONE" && bash .ci/run > "$OUT/run3.log" 2>&1)
echo "run 3 (clean-clone .ci/run, install included) rc=$? wall=$(( $(date +%s) - start ))s load=$(cut -d' ' -f1-3 /proc/loadavg) $(git -C "$CLONE" log --oneline -1 | cut -c1-7)" >> "$OUT/summary.txt"
git worktree remove --force "$WT"
