"""What one evaluation does: the split, how many examples, the metrics and the decoding settings.

One frozen value flows from the CLI (or the dashboard's command) into `evaluate_run` and is written
into the report, so a report always says how its numbers were made."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from gemma_jax.evaluate.reports import SPLITS
from gemma_jax.metrics.selection import parse_metric_names

MAX_AUTO_NEW_TOKENS = 256  # the answer length cap when none is given: the longest reference, plus room


@dataclass(frozen=True)
class EvalSettings:
    split: str = "validation"
    max_examples: int | None = None  # None: the whole split
    metrics: tuple[str, ...] = ()  # () : the run's eval.metrics, else chosen by the data
    custom_metrics: tuple[str, ...] = ()  # () : the run's eval.custom_metrics ("module:function")
    temperature: float = 0.0  # 0: greedy, the model's own most likely answer
    top_k: int | None = None
    top_p: float | None = None
    seed: int = 0
    max_new_tokens: int | None = None  # None: enough for the longest reference (at most MAX_AUTO_NEW_TOKENS)
    batch_size: int = 16  # prompts answered together
    choices_path: str | None = None  # a multiple-choice file scored by log-likelihood
    sweep: bool = False  # also answer a sample at several temperatures / top-p

    def __post_init__(self) -> None:
        problems = []
        if self.split not in SPLITS:
            problems.append(f"unknown split {self.split!r}; use one of {', '.join(SPLITS)}")
        if self.max_examples is not None and self.max_examples < 0:
            problems.append(f"--max-examples must be 0 or more, got {self.max_examples}")
        if not 0 <= self.temperature <= 10:
            problems.append(f"--temperature must be between 0 (greedy) and 10, got {self.temperature}")
        if self.top_k is not None and self.top_k < 1:
            problems.append(f"--top-k must be 1 or more, got {self.top_k}")
        if self.top_p is not None and not 0 < self.top_p <= 1:
            problems.append(f"--top-p must be above 0 and at most 1, got {self.top_p}")
        if self.max_new_tokens is not None and self.max_new_tokens < 1:
            problems.append(f"--max-new-tokens must be 1 or more, got {self.max_new_tokens}")
        if not 1 <= self.batch_size <= 1024:
            problems.append(f"--batch-size must be between 1 and 1024, got {self.batch_size}")
        if any(":" not in spec for spec in self.custom_metrics):
            problems.append("custom metrics are named 'module:function', e.g. my_metrics:length_ok")
        if problems:
            raise ValueError("; ".join(problems))
        object.__setattr__(self, "metrics", parse_metric_names(list(self.metrics)))

    def as_dict(self) -> dict:
        return dataclasses.asdict(self)
