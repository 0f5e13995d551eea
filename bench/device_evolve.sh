#!/usr/bin/env bash
# bench/evolve.py on the bundled tinygpt, on the device machine's CPUs (its 16 cores, quiet):
# the jobs run at once, each pinned to 3 cores of its own (taskset; conductor sizes a CPU
# slot's threads to the cores it may use), 4 panes on 3 CPU slots. A job is ARM:SEED, so one
# call can run both arms side by side under the same load. Run from the repo root with the
# py3.12 wheels in .carry/whl and the bubblewrap .debs in .carry/deb:
#   bash bench/device_evolve.sh EXPERIMENTS EVERY BUDGET_S ["fixed:0 evolving:0 ..."]
# (at most 5 jobs: 15 of the 16 cores; a call must end inside the device's 10 minutes)
# then, here: python bench/evolve.py --merge OUT/evolve-*.txt
set -u
E=${1:-6}; EVERY=${2:-3}; B=${3:-4}; JOBS=${4:-"fixed:0 fixed:1 fixed:2 fixed:3 fixed:4"}
OUT=${OUT:-$PWD/device-evolve-out}; mkdir -p "$OUT"
. bench/gpu_carry.sh
export CUDA_VISIBLE_DEVICES=""
{ nproc; python3 --version; python3 -c "import torch, scipy, greenlet; print(torch.__version__, scipy.__version__)"; python3 -m conductor doctor; } > "$OUT/env.txt" 2>&1
(cd workspaces/tinygpt && python3 prepare.py) >> "$OUT/env.txt" 2>&1  # the corpus cache, once, before the jobs race for it
i=0
for job in $JOBS; do
  arm=${job%%:*}; s=${job##*:}
  taskset -c $((3 * i))-$((3 * i + 2)) timeout 540 python3 bench/evolve.py --workspace workspaces/tinygpt --first-seed "$s" \
    --seeds 1 --panes 4 --slots 3 --experiments "$E" --every "$EVERY" --budget "$B" --arms "$arm" \
    > "$OUT/evolve-$arm-s$s.txt" 2>&1 &
  i=$((i + 1))
done
wait
uptime >> "$OUT/env.txt"
