"""Where each Keras-Hub Gemma projection lives in a Hugging Face checkpoint, and how its kernel is laid out.

Keras keeps the attention kernels per head (query/key/value [heads, hidden,
head_dim], output [heads, head_dim, hidden]) and the feed-forward kernels as
[in, out]; transformers keeps every projection as one nn.Linear weight
[out, in]. The same layouts as Keras-Hub's own HF converters
(keras_hub/src/utils/transformers/convert_gemma*.py): `ffw_gating` (the
GELU-gated half) is `gate_proj`, `ffw_gating_2` is `up_proj`. The transformers
export, the PEFT export and the PEFT import all share these, so they agree.
"""

from __future__ import annotations

import numpy as np

# Our LoRA target name (lora.LORA_TARGETS) → the module's name under model.layers.{i} in transformers.
HF_MODULES = {
    "query": "self_attn.q_proj",
    "key": "self_attn.k_proj",
    "value": "self_attn.v_proj",
    "attention_output": "self_attn.o_proj",
    "ffw_gating": "mlp.gate_proj",
    "ffw_gating_2": "mlp.up_proj",
    "ffw_linear": "mlp.down_proj",
}
HEADS_FIRST = ("query", "key", "value")  # kernels [heads, hidden, head_dim]


def hf_weight(target: str, kernel: np.ndarray) -> np.ndarray:
    """A Keras kernel of projection `target` as the nn.Linear weight [out, in] transformers stores."""
    if target in HEADS_FIRST:
        heads, hidden, head_dim = kernel.shape
        return kernel.transpose(0, 2, 1).reshape(heads * head_dim, hidden)
    if target == "attention_output":
        heads, head_dim, hidden = kernel.shape
        return kernel.transpose(2, 0, 1).reshape(hidden, heads * head_dim)
    return kernel.T


def keras_kernel(target: str, weight: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """The inverse of `hf_weight`: an nn.Linear weight [out, in] as the Keras kernel of `shape`."""
    if target in HEADS_FIRST:
        heads, hidden, head_dim = shape
        return weight.reshape(heads, head_dim, hidden).transpose(0, 2, 1)
    if target == "attention_output":
        heads, head_dim, hidden = shape
        return weight.reshape(hidden, heads, head_dim).transpose(1, 2, 0)
    return weight.T
