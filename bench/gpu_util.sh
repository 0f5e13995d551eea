#!/usr/bin/env bash
# On the device machine, from the repo root, with the lead's wheels carried in .carry/whl:
#   bash bench/gpu_util.sh [--budget 60]
# One bundled-tinygpt experiment on GPU 0 with NVML utilisation sampled (bench/gpu_util.py).
set -euo pipefail
cd "$(dirname "$0")/.."
if [ -d .carry/whl ]; then
  python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --target /tmp/site .carry/whl/*.whl
  export PYTHONPATH=/tmp/site:$PWD
else
  export PYTHONPATH=$PWD
fi
nvidia-smi -L
python3 -c 'import torch; print("torch", torch.__version__, "cuda", torch.cuda.is_available())'
python3 bench/gpu_util.py "$@"
