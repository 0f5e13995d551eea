"""
Fixed harness for the tinygpt workspace. DO NOT EDIT (agents edit train.py only).

- Builds a byte-level corpus from the Python standard library's own .py files
  (sorted relative paths, fixed order, capped at CORPUS_CAP_BYTES) with a fixed,
  file-level train/validation split, and caches it in a shared cache dir.
- Provides the data loader, seeding, device selection and the ground-truth metric
  evaluate_bpb (validation bits per byte on a fixed subset of the validation data).

Run `python prepare.py` once to build the cache (train.py also builds it on demand).
"""

import math
import os
import random
import sys
import sysconfig
import tempfile
import time
import zlib

import torch
import torch.nn.functional as F

# ---------------------------------------------------------------------------
# Constants (fixed; train.py may read but must not change them)
# ---------------------------------------------------------------------------

VOCAB_SIZE = 256                # byte-level: every token is one byte
MAX_SEQ_LEN = 256               # context length used by evaluate_bpb; the model must accept it
TIME_BUDGET = float(os.environ.get("TIME_BUDGET", 20))  # seconds of training wall time
CORPUS_CAP_BYTES = 6_000_000    # total corpus size cap (train + val)
VAL_PERCENT = 5                 # ~5% of files (~10% of bytes), chosen by a hash of their path, go to val
EVAL_WINDOWS = 128              # evaluate_bpb scores EVAL_WINDOWS * MAX_SEQ_LEN bytes (32 KiB)
EVAL_BATCH = 32
CACHE_VERSION = 1
SKIP_DIRS = {"site-packages", "__pycache__", "test", "tests", "idle_test",
             "encodings", "pydoc_data"}  # tests, codec tables and doc text are not ordinary code


def cache_dir():
    d = os.environ.get("CONDUCTOR_CACHE")
    if not d:
        base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
        d = os.path.join(base, "conductor", "tinygpt")
    return d


def _cache_paths():
    tag = f"v{CACHE_VERSION}-py{sys.version_info.major}{sys.version_info.minor}"
    d = cache_dir()
    return os.path.join(d, f"train-{tag}.bin"), os.path.join(d, f"val-{tag}.bin")


# ---------------------------------------------------------------------------
# Corpus
# ---------------------------------------------------------------------------

def list_source_files():
    """Sorted relative paths of the stdlib .py files that make up the corpus."""
    root = sysconfig.get_paths()["stdlib"]
    rels = []
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = [d for d in dirnames if d not in SKIP_DIRS]
        for fn in filenames:
            if fn.endswith(".py"):
                rels.append(os.path.relpath(os.path.join(dirpath, fn), root).replace(os.sep, "/"))
    return root, sorted(rels)


def is_val_file(rel):
    return zlib.crc32(rel.encode()) % 100 < VAL_PERCENT


def build_corpus():
    root, rels = list_source_files()
    train, val, total = [], [], 0
    for rel in rels:
        with open(os.path.join(root, rel), "rb") as f:
            data = f.read() + b"\n\n"
        if total + len(data) > CORPUS_CAP_BYTES:
            break
        total += len(data)
        (val if is_val_file(rel) else train).append(data)
    return b"".join(train), b"".join(val)


def _atomic_write(path, data):
    d = os.path.dirname(path)
    os.makedirs(d, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=d, prefix=".tmp-", suffix=".bin")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o644)  # mkstemp creates 0600; the cache is shared
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise


def prepare(verbose=True):
    """Build the cached train/val byte arrays if missing. Safe to call concurrently."""
    train_path, val_path = _cache_paths()
    if os.path.exists(train_path) and os.path.exists(val_path):
        return train_path, val_path
    t0 = time.time()
    train, val = build_corpus()
    _atomic_write(val_path, val)      # val first: train's presence marks completion
    _atomic_write(train_path, train)
    if verbose:
        print(f"prepared corpus: train {len(train):,} bytes, val {len(val):,} bytes "
              f"in {time.time() - t0:.1f}s -> {cache_dir()}", file=sys.stderr)
    return train_path, val_path


_DATA = {}


def load_split(split):
    """The cached split as a 1-D uint8 CPU tensor."""
    if split not in ("train", "val"):
        raise ValueError(f"split must be 'train' or 'val', got {split!r}")
    if split not in _DATA:
        train_path, val_path = prepare()
        with open(train_path if split == "train" else val_path, "rb") as f:
            _DATA[split] = torch.frombuffer(bytearray(f.read()), dtype=torch.uint8)
    return _DATA[split]


# ---------------------------------------------------------------------------
# Runtime helpers
# ---------------------------------------------------------------------------

def seed_everything():
    """Seed python and torch RNGs from $CONDUCTOR_SEED (default 0). Returns the seed."""
    seed = int(os.environ.get("CONDUCTOR_SEED", 0))
    random.seed(seed)
    torch.manual_seed(seed)
    if torch.cuda.is_available():
        torch.cuda.manual_seed_all(seed)
    return seed


def pick_device():
    """CUDA when available, else CPU with $CONDUCTOR_THREADS threads."""
    if torch.cuda.is_available():
        return torch.device("cuda")
    torch.set_num_threads(int(os.environ.get("CONDUCTOR_THREADS", os.cpu_count() or 1)))
    return torch.device("cpu")


def get_batch(split, batch_size, seq_len, device, generator=None):
    """Random (x, y) int64 batches of shape (batch_size, seq_len); y is x shifted by one byte."""
    data = load_split(split)
    starts = torch.randint(0, len(data) - seq_len - 1, (batch_size,), generator=generator)
    idx = starts[:, None] + torch.arange(seq_len + 1)
    chunk = data[idx].long()
    x, y = chunk[:, :-1].contiguous(), chunk[:, 1:].contiguous()
    if device.type == "cuda":
        return x.pin_memory().to(device, non_blocking=True), y.pin_memory().to(device, non_blocking=True)
    return x.to(device), y.to(device)


@torch.no_grad()
def evaluate_bpb(model, device):
    """Validation bits per byte on a fixed subset of the validation split (lower is better).

    model(x) must map int64 tokens of shape (B, MAX_SEQ_LEN) to logits (B, MAX_SEQ_LEN, 256)
    (a tuple whose first element is the logits is also accepted).
    """
    data = load_split("val")
    n_windows = min(EVAL_WINDOWS, (len(data) - 1) // MAX_SEQ_LEN)
    stride = (len(data) - 1 - MAX_SEQ_LEN) // max(1, n_windows - 1)
    starts = torch.arange(n_windows) * stride          # evenly spaced, deterministic
    was_training = model.training
    model.eval()
    total_nats, total_bytes = 0.0, 0
    for i in range(0, n_windows, EVAL_BATCH):
        s = starts[i:i + EVAL_BATCH]
        chunk = data[s[:, None] + torch.arange(MAX_SEQ_LEN + 1)].long().to(device)
        x, y = chunk[:, :-1], chunk[:, 1:]
        with torch.autocast(device_type="cuda", dtype=torch.bfloat16, enabled=device.type == "cuda"):
            out = model(x)
        logits = out[0] if isinstance(out, (tuple, list)) else out
        loss = F.cross_entropy(logits.float().reshape(-1, logits.size(-1)), y.reshape(-1), reduction="sum")
        total_nats += loss.item()
        total_bytes += y.numel()
    model.train(was_training)
    return total_nats / (math.log(2) * total_bytes)


if __name__ == "__main__":
    t0 = time.time()
    train_path, val_path = prepare()
    print(f"cache dir:  {cache_dir()}")
    print(f"train:      {os.path.getsize(train_path):,} bytes")
    print(f"val:        {os.path.getsize(val_path):,} bytes")
    print(f"eval bytes: {min(EVAL_WINDOWS, (os.path.getsize(val_path) - 1) // MAX_SEQ_LEN) * MAX_SEQ_LEN:,}")
    print(f"done in {time.time() - t0:.2f}s")
