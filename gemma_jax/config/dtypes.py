"""model.dtype's values and the one rule that turns "auto" into a dtype.

The trainer (on the backend JAX runs), the memory check (on the platform it is asked
about) and the wizard all resolve "auto" here, so the estimate and the run agree.
"""

from __future__ import annotations

from gemma_jax.cpu_features import cpu_has_bf16_units

DTYPES = ("auto", "float32", "bfloat16")
FAST_BF16_PLATFORMS = ("tpu", "gpu")  # bf16 matmul units the step uses


def resolve_dtype(dtype: str, platform: str) -> str:
    """ "auto" is bfloat16 where the hardware has fast bf16 matmuls, else float32.

    That is TPUs, GPUs, and CPUs with bf16 units (Intel AMX or AVX512-BF16: `platform` "cpu" is
    this machine's CPU), whose steps take bf16 operands with float32 accumulation
    (train/mixed_einsum.py). Other CPUs keep float32: bf16 is no faster there.
    """
    if dtype != "auto":
        return dtype
    if platform in FAST_BF16_PLATFORMS or (platform == "cpu" and cpu_has_bf16_units()):
        return "bfloat16"
    return "float32"


def auto_dtype_reason(platform: str) -> str:
    """Why "auto" resolves as it does on `platform`, in the user's words (for the run's log)."""
    if platform in FAST_BF16_PLATFORMS:
        return f"the {platform.upper()}'s matmul units are fastest in bfloat16"
    if platform == "cpu" and cpu_has_bf16_units():
        return "this CPU has bf16 units (AMX or AVX512-BF16): matmuls take bfloat16 and add up in float32"
    return "this CPU has no bf16 units, so float32 is as fast, and exact"
