#!/usr/bin/env bash
# bench/board.py on the bundled tinygpt, on the device machine's CPUs (its 16 cores, quiet,
# where the 2-core VM's load moved the metric as much as the effect measured): the seeds run
# at once, each pinned to 3 cores of its own (taskset; conductor sizes a CPU slot's threads to
# the cores it may use), 4 panes on 3 CPU slots of one thread each. Run from the repo root
# with the py3.12 wheels in .carry/whl and the bubblewrap .debs in .carry/deb:
#   bash bench/device_board.sh EXPERIMENTS BUDGET_S [SEEDS] [ARMS]
# (ARMS: shared,independent by default; one arm a call halves the time a call needs)
# then, here: python bench/board.py --workspace tinygpt --merge OUT/tiny-*.txt
set -u
E=${1:-12}; B=${2:-5}; SEEDS=${3:-5}; ARMS=${4:-shared,independent}
OUT=${OUT:-$PWD/device-board-out}; mkdir -p "$OUT"
. bench/gpu_carry.sh
export CUDA_VISIBLE_DEVICES=""
{ nproc; python3 --version; python3 -m conductor doctor; } > "$OUT/env.txt" 2>&1
(cd workspaces/tinygpt && python3 prepare.py) >> "$OUT/env.txt" 2>&1  # the corpus cache, once, before the seeds race for it
for ((s = 0; s < SEEDS; s++)); do
  taskset -c $((3 * s))-$((3 * s + 2)) timeout 520 python3 bench/board.py --workspace tinygpt --first-seed "$s" --seeds 1 \
    --experiments "$E" --budget "$B" --slots 3 --arms "$ARMS" > "$OUT/tiny-${ARMS//,/_}-s$s.txt" 2>&1 &
done
wait
uptime >> "$OUT/env.txt"
