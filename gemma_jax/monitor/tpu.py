"""Cloud TPU chips on this host, found without opening them (JAX would lock the TPU to this process).

Chips are counted from the PCI bus (Google's vendor id, as libtpu's `tpu-info` does) or
the device files (/dev/accel* on v2-v4, /dev/vfio/N on v5e and later); the TPU VM's
environment (TPU_ACCELERATOR_TYPE) names the slice. Memory and duty cycle come from
libtpu's runtime metrics through the `tpu_info` package, only while a job is running.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

PCI_DIR = Path("/sys/bus/pci/devices")
DEV_DIR = Path("/dev")
GOOGLE_PCI_VENDOR = "0x1ae0"
GIB = 2**30
# PCI device id -> (chip name, HBM per chip in GiB); v2 and v3 share an id (told apart by subsystem).
_CHIPS = {
    "0x005e": ("TPU v4", 32),
    "0x0063": ("TPU v5e", 16),
    "0x0062": ("TPU v5p", 95),
    "0x006f": ("TPU v6e", 32),
    "0x0076": ("TPU7x", 192),
}
_V2_V3 = {"0x004e": ("TPU v2", 8), "0x004f": ("TPU v3", 16)}


def _read(path: Path) -> str:
    try:
        return path.read_text().strip()
    except OSError:
        return ""


def pci_chips() -> list[tuple[str, int]]:
    """(name, HBM GiB) for each TPU chip on the PCI bus."""
    chips = []
    try:
        entries = sorted(PCI_DIR.iterdir())
    except OSError:
        return []
    for entry in entries:
        if _read(entry / "vendor") != GOOGLE_PCI_VENDOR:
            continue
        device = _read(entry / "device")
        chip = _V2_V3.get(_read(entry / "subsystem_device")) if device == "0x0027" else _CHIPS.get(device)
        if chip:
            chips.append(chip)
    return chips


def device_files() -> list[Path]:
    """/dev/accelN and /dev/vfio/N: one per TPU chip where the PCI bus is not visible (containers)."""
    try:
        accel = [p for p in DEV_DIR.glob("accel*") if re.fullmatch(r"accel\d+", p.name)]
        vfio = [p for p in (DEV_DIR / "vfio").glob("*") if p.name.isdigit()]
    except OSError:
        return []
    return sorted(accel or vfio)


def accelerator_type() -> str | None:
    """The slice type the TPU VM's environment names (e.g. "v5litepod-8"), if any."""
    return os.environ.get("TPU_ACCELERATOR_TYPE", "").strip() or None


def tpu_chips() -> tuple[str, int, int | None] | None:
    """(name, chips on this host, bytes of HBM per chip or None), or None when this is no TPU host."""
    chips = pci_chips()
    slice_type = accelerator_type()
    if chips:
        name, hbm = chips[0]
        return (f"{name} ({slice_type})" if slice_type else name), len(chips), hbm * GIB
    files = device_files()
    if files or slice_type:
        return f"TPU {slice_type}" if slice_type else "TPU", max(1, len(files)), None
    return None


def tpu_usage() -> list[dict[str, Any]] | None:
    """Per-device memory and duty cycle from libtpu's metrics service; None when unavailable
    (tpu_info not installed, or no job running with runtime metrics on)."""
    try:
        from tpu_info import device, metrics
    except ImportError:
        return None
    try:
        chip_type, count = device.get_local_chips()
        if chip_type is None or not count:
            return None
        usages = metrics.get_chip_usage(chip_type)
    except Exception:  # noqa: BLE001  (grpc UNAVAILABLE when no job serves metrics, parsing errors)
        return None
    return [
        {
            "index": int(u.device_id),
            "memory_used": int(u.memory_usage),
            "memory_total": int(u.total_memory),
            "utilization_percent": float(u.duty_cycle_pct),
        }
        for u in usages
    ]
