"""The model's answers to a run's sample prompts, written to samples.jsonl while it trains.

The dashboard shows them beside the base model's answers (written once, before step 1), so a
person sees what the fine-tune changes. Greedy decoding through the same `Generator` that
`gemma-jax generate` uses, on the trainer's current weights.
"""

from __future__ import annotations

from gemma_jax.config import JobConfig
from gemma_jax.data import Datasets, prompt_text
from gemma_jax.models.generation import Generator
from gemma_jax.models.loaded_model import LoadedModel
from gemma_jax.runs.run_store import RunStore
from gemma_jax.runs.schema import BASE_MODEL, Sample


class SampleWriter:
    """Answers to the configured sample prompts, or to the first two held-out (else training) prompts."""

    def __init__(self, store: RunStore, config: JobConfig) -> None:
        self.store = store
        self.config = config
        self.generator: Generator | None = None  # built at the first write, then kept (one compile)

    def prompts(self, data: Datasets) -> list[str]:
        prompts = list(self.config.eval.sample_prompts)
        if not prompts:
            examples = data.validation_examples or data.train_examples
            prompts = [next(t.text for t in ex.turns if t.role == "user") for ex in examples[:2]]
        return prompts

    def write(self, model: LoadedModel, data: Datasets, step: int, which: str) -> None:
        """Greedy answers of `model` as it stands at `step`; `which` is "base" or "tuned"."""
        if self.generator is None:
            self.generator = Generator(model, max_length=self.config.data.sequence_length)
        prompts = self.prompts(data)
        outputs = self.generator.generate([prompt_text(p) for p in prompts], self.config.eval.max_new_tokens)
        for prompt, output in zip(prompts, outputs):
            self.store.append_sample(
                {Sample.STEP: step, Sample.MODEL: which, Sample.PROMPT: prompt, Sample.OUTPUT: output}
            )

    def has_base_answers(self) -> bool:
        """A run restarted before its first checkpoint must not answer for the base model twice."""
        records, _ = self.store.read_samples()
        return any(r.get(Sample.MODEL) == BASE_MODEL for r in records)
