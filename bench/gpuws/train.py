"""A GPU placement probe: busy matmuls for TIME_BUDGET seconds, then what torch could see.

The summary block reports the visible device count and UUID, so a run proves that each
experiment saw only the GPU its slot named.
"""

import os
import time

import torch

SIZE = 4096
TIME_BUDGET = float(os.environ.get("TIME_BUDGET", 10))

assert torch.cuda.is_available(), "no CUDA device visible"
dev = torch.device("cuda")
a = torch.randn(SIZE, SIZE, device=dev, dtype=torch.bfloat16)
b = torch.randn(SIZE, SIZE, device=dev, dtype=torch.bfloat16)
t0 = time.time()
steps = 0
while time.time() - t0 < TIME_BUDGET:
    for _ in range(50):
        a = (a @ b).clamp_(-1, 1)
    torch.cuda.synchronize()
    steps += 1
props = torch.cuda.get_device_properties(0)
print("---")
print(f"score:            {1.0 / (1 + steps):.6f}")
print(f"visible_devices:  {torch.cuda.device_count()}")
print(f"gpu_uuid:         GPU-{props.uuid}")
print(f"gpu_name:         {props.name.replace(' ', '_')}")
print(f"cuda_visible:     {os.environ.get('CUDA_VISIBLE_DEVICES', '')}")
print(f"peak_vram_mb:     {torch.cuda.max_memory_allocated() / 2**20:.1f}")
print(f"steps:            {steps}")
