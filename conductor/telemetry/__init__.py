"""Telemetry: GPUs (NVML), the host (psutil), and token meters."""
