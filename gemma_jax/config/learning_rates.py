"""Typical peak learning rates per method, so validate(), the wizard's field notes and its help say the same.

Why LoRA's range sits about ten times above full fine-tuning's: only the small adapter matrices train,
and their B half starts at zero, so a step at the same rate moves the model far less than one on every
weight. Long runs on larger models are safe at the low end; small models and short runs need the high
end to learn anything in time (the quick start: 1e-3 for 30 steps on Gemma 3 270M).
"""

from __future__ import annotations

TYPICAL_LEARNING_RATES: dict[str, tuple[float, float]] = {
    "lora": (1e-4, 2e-3),
    "qlora": (1e-4, 2e-3),
    "dpo": (5e-6, 5e-5),  # a preference loss on a policy kept near its reference: small steps
    "full": (1e-5, 1e-4),
}
METHOD_NAMES = {"lora": "LoRA", "qlora": "QLoRA", "dpo": "DPO", "full": "full fine-tuning"}


def short_rate(value: float) -> str:
    """1e-4, 2e-3, 5e-6: a rate as a range is written (one significant digit, no exponent padding)."""
    mantissa, _, exponent = f"{value:.0e}".partition("e")
    return f"{mantissa}e{int(exponent)}"


def typical_range(kind: str) -> str:
    """ "1e-4 to 2e-3" for the method (LoRA's for an unknown one)."""
    low, high = TYPICAL_LEARNING_RATES.get(kind, TYPICAL_LEARNING_RATES["lora"])
    return f"{short_rate(low)} to {short_rate(high)}"


def typical_rate_text(kind: str) -> str:
    """ "1e-4 to 2e-3 is usual for LoRA": what the UI says beside a doubtful rate."""
    return f"{typical_range(kind)} is usual for {METHOD_NAMES.get(kind, METHOD_NAMES['lora'])}"


def learning_rate_hint(kind: str) -> str:
    """validate()'s hint for a rate that cannot run: the usual range for this method, and why LoRA's is higher."""
    if kind == "full":
        return f"{typical_rate_text('full')}; LoRA, which trains only small adapters, uses {typical_range('lora')}"
    if kind == "dpo":
        return typical_rate_text("dpo")
    why = f"only the small adapters train, so they take larger steps than full fine-tuning's {typical_range('full')}"
    return f"{typical_rate_text(kind)}: {why}"
