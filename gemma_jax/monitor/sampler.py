"""One reading of the machine's load for the dashboard's system panel (cheap: call it every second)."""

from __future__ import annotations

import os
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import psutil

from gemma_jax.monitor.gpu import gpu_devices
from gemma_jax.monitor.tpu import tpu_chips, tpu_usage

GB = 1e9  # as the engine's metrics (rss_gb, device_memory_gb)


def _gb(value: float | None) -> float | None:
    return None if value is None else round(value / GB, 3)


def _existing(path: Path) -> Path:
    """The path, or its nearest existing parent (a runs folder not made yet still has a disk)."""
    path = path.absolute()
    while not path.exists() and path != path.parent:
        path = path.parent
    return path


class SystemSampler:
    """CPU, RAM, the disks holding `disk_paths`, and each accelerator's memory and utilization.

    Accelerators: NVML GPUs; TPU chips with libtpu's figures while a job runs (None otherwise).
    Disks are counted once per filesystem, so a runs folder and a cache on one disk add up once.
    """

    def __init__(self, disk_paths: Sequence[str | Path] = (".",)) -> None:
        self.disk_paths = [Path(p) for p in disk_paths]
        self._tpu = tpu_chips()
        self._cpu_times = psutil.cpu_times()  # CPU % is measured between this sampler's own calls

    def _cpu_percent(self) -> float:
        """Busy share of all cores since the last sample (psutil's global interval would be shared
        by every dashboard session, each resetting it for the others)."""
        before, now = self._cpu_times, psutil.cpu_times()
        self._cpu_times = now
        total = sum(now) - sum(before)
        idle = (now.idle + getattr(now, "iowait", 0.0)) - (before.idle + getattr(before, "iowait", 0.0))
        return round(100.0 * max(0.0, min(1.0, 1.0 - idle / total)), 1) if total > 0 else 0.0

    def _disk(self) -> tuple[float | None, float | None]:
        seen, used, total = set(), 0, 0
        for path in self.disk_paths:
            where = _existing(path)
            try:
                device = os.stat(where).st_dev
                if device in seen:
                    continue
                usage = psutil.disk_usage(str(where))
            except OSError:
                continue
            seen.add(device)
            used, total = used + usage.used, total + usage.total
        return (_gb(used), _gb(total)) if seen else (None, None)

    def _accelerators(self) -> list[dict[str, Any]]:
        gpus = gpu_devices()
        if gpus:
            return [
                {
                    "index": g["index"],
                    "name": g["name"],
                    "memory_used_gb": _gb(g["memory_used"]),
                    "memory_total_gb": _gb(g["memory_total"]),
                    "utilization_percent": g["utilization_percent"],
                }
                for g in gpus
            ]
        if self._tpu is None:
            return []
        name, chips, memory = self._tpu
        usage = tpu_usage()
        if usage:
            return [
                {
                    "index": u["index"],
                    "name": name,
                    "memory_used_gb": _gb(u["memory_used"]),
                    "memory_total_gb": _gb(u["memory_total"]),
                    "utilization_percent": u["utilization_percent"],
                }
                for u in usage
            ]
        return [
            {
                "index": i,
                "name": name,
                "memory_used_gb": None,
                "memory_total_gb": _gb(memory),
                "utilization_percent": None,
            }
            for i in range(chips)
        ]

    def sample(self) -> dict[str, Any]:
        memory = psutil.virtual_memory()
        disk_used, disk_total = self._disk()
        return {
            "time": time.time(),
            "cpu_percent": self._cpu_percent(),
            "ram_used_gb": _gb(memory.total - memory.available),
            "ram_total_gb": _gb(memory.total),
            "disk_used_gb": disk_used,
            "disk_total_gb": disk_total,
            "accelerators": self._accelerators(),
        }
