"""
tinygpt: a small byte-level GPT trained for a fixed wall-clock budget.
This is the one file the agent edits. The harness (data, seeding, device, metric)
lives in prepare.py and is fixed. Run: python train.py
"""

# Hyperparameters (one `NAME = literal` per line; tools rewrite these values in place)
LEARNING_RATE = 1e-3   # peak AdamW learning rate
DEPTH = 4              # number of transformer blocks
WIDTH = 192            # residual stream width (model dim)
HEAD_DIM = 32          # attention head size; heads = max(1, WIDTH // HEAD_DIM)
BATCH_SIZE = 16        # sequences per step
SEQ_LEN = 256          # training context length (<= MAX_SEQ_LEN)
WEIGHT_DECAY = 0.1     # AdamW weight decay on matrices
WARMUP_FRAC = 0.1      # fraction of the time budget spent on linear LR warmup
MIN_LR_FRAC = 0.1      # LR decays linearly to this fraction of the peak at the end of the budget
GRAD_CLIP = 1.0        # max grad norm (0 disables)
DROPOUT = 0.0
# On a GPU slot (CUDA) these replace DEPTH, WIDTH and BATCH_SIZE: a model and batch big
# enough to keep the GPU busy (workspace.toml declares them as the GPU's knobs).
GPU_DEPTH = 8
GPU_WIDTH = 768
GPU_BATCH_SIZE = 64

import time

t_start = time.time()

import math
import sys

import torch
import torch.nn as nn
import torch.nn.functional as F

from prepare import MAX_SEQ_LEN, TIME_BUDGET, VOCAB_SIZE, evaluate_bpb, get_batch, pick_device, seed_everything


class CausalSelfAttention(nn.Module):
    def __init__(self, width, n_head, head_dim):
        super().__init__()
        self.n_head, self.head_dim = n_head, head_dim
        inner = n_head * head_dim
        self.qkv = nn.Linear(width, 3 * inner, bias=False)
        self.proj = nn.Linear(inner, width, bias=False)

    def forward(self, x):
        B, T, _ = x.shape
        q, k, v = self.qkv(x).view(B, T, 3, self.n_head, self.head_dim).permute(2, 0, 3, 1, 4)
        y = F.scaled_dot_product_attention(q, k, v, is_causal=True,
                                           dropout_p=DROPOUT if self.training else 0.0)
        return self.proj(y.transpose(1, 2).reshape(B, T, -1))


class MLP(nn.Module):
    def __init__(self, width):
        super().__init__()
        self.fc = nn.Linear(width, 4 * width, bias=False)
        self.proj = nn.Linear(4 * width, width, bias=False)

    def forward(self, x):
        return self.proj(F.gelu(self.fc(x)))


class Block(nn.Module):
    def __init__(self, width, n_head, head_dim):
        super().__init__()
        self.ln1 = nn.LayerNorm(width)
        self.attn = CausalSelfAttention(width, n_head, head_dim)
        self.ln2 = nn.LayerNorm(width)
        self.mlp = MLP(width)
        self.drop = nn.Dropout(DROPOUT)

    def forward(self, x):
        x = x + self.drop(self.attn(self.ln1(x)))
        return x + self.drop(self.mlp(self.ln2(x)))


class GPT(nn.Module):
    def __init__(self, depth, width, head_dim):
        super().__init__()
        n_head = max(1, width // head_dim)
        self.tok_emb = nn.Embedding(VOCAB_SIZE, width)
        self.pos_emb = nn.Embedding(MAX_SEQ_LEN, width)
        self.blocks = nn.ModuleList([Block(width, n_head, head_dim) for _ in range(depth)])
        self.ln_f = nn.LayerNorm(width)
        self.head = nn.Linear(width, VOCAB_SIZE, bias=False)
        self.head.weight = self.tok_emb.weight  # weight tying
        self.apply(self._init)
        for name, p in self.named_parameters():  # GPT-2 style scaled init of residual projections
            if name.endswith("proj.weight"):
                nn.init.normal_(p, mean=0.0, std=0.02 / math.sqrt(2 * depth))

    @staticmethod
    def _init(m):
        if isinstance(m, (nn.Linear, nn.Embedding)):
            nn.init.normal_(m.weight, mean=0.0, std=0.02)

    def forward(self, idx):
        T = idx.size(1)
        x = self.tok_emb(idx) + self.pos_emb(torch.arange(T, device=idx.device))
        for block in self.blocks:
            x = block(x)
        return self.head(self.ln_f(x))


def lr_multiplier(progress):
    """Linear warmup over WARMUP_FRAC of the budget, then linear decay to MIN_LR_FRAC."""
    if progress < WARMUP_FRAC:
        return (progress + 1e-3) / (WARMUP_FRAC + 1e-3)
    frac = (progress - WARMUP_FRAC) / max(1e-8, 1.0 - WARMUP_FRAC)
    return 1.0 - (1.0 - MIN_LR_FRAC) * min(frac, 1.0)


# ---------------------------------------------------------------------------
# Setup
# ---------------------------------------------------------------------------

seed = seed_everything()
device = pick_device()
if device.type == "cuda":
    DEPTH, WIDTH, BATCH_SIZE = GPU_DEPTH, GPU_WIDTH, GPU_BATCH_SIZE
    torch.backends.cuda.matmul.allow_tf32 = True
assert SEQ_LEN <= MAX_SEQ_LEN, "SEQ_LEN must not exceed MAX_SEQ_LEN"
model = GPT(DEPTH, WIDTH, HEAD_DIM).to(device)
num_params = sum(p.numel() for p in model.parameters())

decay = [p for p in model.parameters() if p.dim() >= 2]
no_decay = [p for p in model.parameters() if p.dim() < 2]
optimizer = torch.optim.AdamW(
    [{"params": decay, "weight_decay": WEIGHT_DECAY}, {"params": no_decay, "weight_decay": 0.0}],
    lr=LEARNING_RATE, betas=(0.9, 0.95), fused=device.type == "cuda",
)
gen = torch.Generator().manual_seed(seed)
autocast = torch.autocast(device_type="cuda", dtype=torch.bfloat16, enabled=device.type == "cuda")
print(f"device: {device}, params: {num_params / 1e6:.2f}M, depth {DEPTH}, width {WIDTH}, "
      f"batch {BATCH_SIZE}, budget {TIME_BUDGET:.0f}s", flush=True)

# ---------------------------------------------------------------------------
# Training loop: runs for TIME_BUDGET seconds of training wall time
# ---------------------------------------------------------------------------

training_time, step, smooth_loss = 0.0, 0, None
while training_time < TIME_BUDGET:
    t0 = time.time()
    lr = LEARNING_RATE * lr_multiplier(training_time / TIME_BUDGET)
    for group in optimizer.param_groups:
        group["lr"] = lr
    x, y = get_batch("train", BATCH_SIZE, SEQ_LEN, device, gen)
    with autocast:
        logits = model(x)
    loss = F.cross_entropy(logits.float().reshape(-1, VOCAB_SIZE), y.reshape(-1))
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    if GRAD_CLIP > 0:
        torch.nn.utils.clip_grad_norm_(model.parameters(), GRAD_CLIP)
    optimizer.step()
    loss_f = loss.item()  # also synchronizes CUDA so the step timing is honest
    if not math.isfinite(loss_f) or loss_f > 100:
        print(f"FAIL: training diverged at step {step} (loss = {loss_f})", flush=True)
        sys.exit(1)
    training_time += time.time() - t0
    step += 1
    smooth_loss = loss_f if smooth_loss is None else 0.95 * smooth_loss + 0.05 * loss_f
    if step % 50 == 0:
        print(f"step {step:5d} | loss {smooth_loss:.4f} | lr {lr:.2e} | "
              f"{training_time:5.1f}s / {TIME_BUDGET:.0f}s", flush=True)

# ---------------------------------------------------------------------------
# Evaluation and summary
# ---------------------------------------------------------------------------

val_bpb = evaluate_bpb(model, device)
if not math.isfinite(val_bpb):
    print(f"FAIL: val_bpb is {val_bpb}", flush=True)
    sys.exit(1)
peak_vram_mb = torch.cuda.max_memory_allocated() / 1024 / 1024 if device.type == "cuda" else 0.0

print("---")
print(f"val_bpb:          {val_bpb:.6f}")
print(f"training_seconds: {training_time:.1f}")
print(f"total_seconds:    {time.time() - t_start:.1f}")
print(f"peak_vram_mb:     {peak_vram_mb:.1f}")
print(f"num_steps:        {step}")
print(f"num_params_M:     {num_params / 1e6:.2f}")
print(f"depth:            {DEPTH}")
