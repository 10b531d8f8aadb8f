"""Whether this machine's CPU multiplies bfloat16 fast: the one place that reads its flags.

Intel AMX and AVX512-BF16 multiply bf16 operands into float32 sums at several times the
float32 rate (measured on an AMX Xeon: 0.57 TFLOP/s against 0.13 for a 2048² matmul).
Without them (AVX2-only CPUs, most AMD EPYCs) bf16 is no faster than float32 here.
"""

from __future__ import annotations

import functools
import os

BF16_FLAGS = frozenset({"amx_bf16", "avx512_bf16"})
# "1" or "0": take this CPU as having or lacking bf16 units, whatever /proc/cpuinfo says. For
# checking what `model.dtype: auto` does on the other kind of CPU (the test suite can run as either).
BF16_UNITS_OVERRIDE = "GEMMA_JAX_CPU_BF16_UNITS"


def cpu_has_bf16_units() -> bool:
    """True on a CPU that advertises AMX-BF16 or AVX512-BF16 (Linux /proc/cpuinfo flags)."""
    forced = os.environ.get(BF16_UNITS_OVERRIDE, "").strip()
    if forced in ("0", "1"):
        return forced == "1"
    return bool(cpu_flags() & BF16_FLAGS)


@functools.cache
def cpu_flags() -> frozenset[str]:
    """The CPU's feature flags; empty where /proc/cpuinfo is not there (macOS, Windows)."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as cpuinfo:
            for line in cpuinfo:
                if line.startswith("flags"):
                    return frozenset(line.split(":", 1)[1].split())
    except OSError:
        pass
    return frozenset()
