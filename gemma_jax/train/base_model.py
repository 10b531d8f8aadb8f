"""The model a run starts from: `model.source`, with `model.adapter` (a PEFT LoRA adapter) folded in.

Training and everything that rebuilds a run's model (evaluation, export, generation) load it here, so
they agree on the base. The adapter is folded exactly into the float kernels before LoRA or QLoRA is
set up (gemma_jax.models.peft_adapter): the run trains new adapters on top of the adapted model, and
its "base" in evaluations is that adapted model.
"""

from __future__ import annotations

from gemma_jax.config.job_config import JobConfig
from gemma_jax.models.loaded_model import LoadedModel
from gemma_jax.models.loading import ModelLoadError, load_model


def load_base_model(
    cfg: JobConfig, dtype: str, tokenizer_proto: bytes | None, vocab_texts: list[str] | None
) -> LoadedModel:
    model = load_model(
        cfg.model.source, dtype=dtype, seed=cfg.train.seed, tokenizer_proto=tokenizer_proto, vocab_texts=vocab_texts
    )
    if cfg.model.adapter:
        from gemma_jax.models.peft_adapter import fold_peft_adapter

        try:
            fold_peft_adapter(model, cfg.model.adapter)
        except (OSError, ValueError) as error:
            raise ModelLoadError(f"model.adapter {cfg.model.adapter}: {error}") from error
    return model
