"""NVML: which GPUs exist (for slots) and, later, how busy they are.

Imported as `pynvml` from the nvidia-ml-py package. No library, no driver or a driver/library
mismatch all end in the same place: one short note, no GPUs, CPU slots, nothing else breaks.
"""

from __future__ import annotations


def discover_gpus() -> tuple[list[tuple[int, str, str]], str]:
    """[(index, uuid, name)] of visible GPUs, and a note when there are none."""
    try:
        import pynvml
    except ImportError:
        return [], "nvidia-ml-py not installed"
    try:
        pynvml.nvmlInit()
    except pynvml.NVMLError as exc:
        return [], f"NVML unavailable: {exc}"
    try:
        out = []
        for i in range(pynvml.nvmlDeviceGetCount()):
            h = pynvml.nvmlDeviceGetHandleByIndex(i)
            uuid = pynvml.nvmlDeviceGetUUID(h)
            name = pynvml.nvmlDeviceGetName(h)
            out.append((i, uuid if isinstance(uuid, str) else uuid.decode(), name if isinstance(name, str) else name.decode()))
        return out, ""
    except pynvml.NVMLError as exc:
        return [], f"NVML error: {exc}"
    finally:
        try:
            pynvml.nvmlShutdown()
        except pynvml.NVMLError:
            pass
