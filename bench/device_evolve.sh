#!/usr/bin/env bash
# bench/evolve.py on the bundled tinygpt, on the device machine's CPUs (its 16 cores, quiet):
# the seeds run at once, each pinned to 3 cores of its own (taskset; conductor sizes a CPU
# slot's threads to the cores it may use), 4 panes on 3 CPU slots. Run from the repo root
# with the py3.12 wheels in .carry/whl and the bubblewrap .debs in .carry/deb:
#   bash bench/device_evolve.sh EXPERIMENTS EVERY BUDGET_S [SEEDS] [ARMS]
# (ARMS: fixed or evolving; one arm a call keeps a call inside the device's 10 minutes)
# then, here: python bench/evolve.py --merge OUT/evolve-*.txt
set -u
E=${1:-16}; EVERY=${2:-4}; B=${3:-4}; SEEDS=${4:-5}; ARMS=${5:-fixed}
OUT=${OUT:-$PWD/device-evolve-out}; mkdir -p "$OUT"
. bench/gpu_carry.sh
export CUDA_VISIBLE_DEVICES=""
{ nproc; python3 --version; python3 -m conductor doctor; } > "$OUT/env-$ARMS.txt" 2>&1
(cd workspaces/tinygpt && python3 prepare.py) >> "$OUT/env-$ARMS.txt" 2>&1  # the corpus cache, once, before the seeds race for it
for ((s = 0; s < SEEDS; s++)); do
  taskset -c $((3 * s))-$((3 * s + 2)) timeout 540 python3 bench/evolve.py --workspace workspaces/tinygpt --first-seed "$s" \
    --seeds 1 --panes 4 --slots 3 --experiments "$E" --every "$EVERY" --budget "$B" --arms "$ARMS" \
    > "$OUT/evolve-$ARMS-s$s.txt" 2>&1 &
done
wait
uptime >> "$OUT/env-$ARMS.txt"
