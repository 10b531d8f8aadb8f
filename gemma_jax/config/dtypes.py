"""model.dtype's values and the one rule that turns "auto" into a dtype.

The trainer (on the backend JAX runs), the memory check (on the platform it is asked
about) and the wizard all resolve "auto" here, so the estimate and the run agree.
"""

from __future__ import annotations

DTYPES = ("auto", "float32", "bfloat16")
FAST_BF16_PLATFORMS = ("tpu", "gpu")  # bf16 matmul units the step uses; CPUs run float32


def resolve_dtype(dtype: str, platform: str) -> str:
    """ "auto" is bfloat16 where the hardware has fast bf16 matmuls (TPU, GPU), else float32."""
    if dtype != "auto":
        return dtype
    return "bfloat16" if platform in FAST_BF16_PLATFORMS else "float32"
