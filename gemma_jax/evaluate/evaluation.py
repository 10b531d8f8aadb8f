"""Score a checkpoint and its base model on a held-out split, and compare their answers.

The split is built by the training data pipeline (same cleaning, split, template,
tokenization and packing) and scored with the training setup's own compiled
evaluation step, so eval_loss is the number training logs. Each listed example is
also scored alone (a batch holding just that example, same shapes) and answered
by both models, greedily.
"""

from __future__ import annotations

import math
from collections.abc import Callable

from gemma_jax.data import BatchIterator, Example, build_datasets, prepare_data, prompt_text, tokenize_examples
from gemma_jax.data.errors import DataError
from gemma_jax.data.lengths import truncate_examples
from gemma_jax.evaluate.reports import SPLITS
from gemma_jax.evaluate.run_checkpoint import RunCheckpoint, Weights
from gemma_jax.models.generation import Generator

MAX_PERPLEXITY_LOSS = 50.0  # exp() of larger losses overflows; such a model is useless anyway


def perplexity(loss: float) -> float:
    return math.exp(min(loss, MAX_PERPLEXITY_LOSS))


def _mean_loss(run: RunCheckpoint, weights: Weights, batches) -> tuple[float, int]:
    """Mean loss per loss token over `batches`, and how many loss tokens there were."""
    total, count = 0.0, 0.0
    for host_batch in batches:
        loss_sum, tokens = run.setup.steps.evaluate(
            weights.trainable, weights.frozen, run.setup.device_batch(host_batch)
        )
        total, count = total + float(loss_sum), count + float(tokens)
    return total / max(count, 1.0), int(count)


def _single(run: RunCheckpoint, example: Example, like: BatchIterator) -> BatchIterator:
    """A one-pass iterator over just `example`, shaped like the split's batches (no recompilation)."""
    data = run.config.data
    tokenized = truncate_examples(
        tokenize_examples([example], run.model.tokenizer, data.loss_on, data.allow_special_tokens),
        data.sequence_length,
        data.truncation,
    )
    options = {
        "sequence_length": like.sequence_length,
        "batch_size": like.batch_size,
        "seed": like.seed,
        "shuffle": False,
        "packing": like.packing,
        "loss_groups": like.loss_groups,
        "num_epochs": 1,
        "repeat": False,
    }
    try:
        return BatchIterator(tokenized, loss_capacity=like.loss_capacity, **options)
    except ValueError:  # one long example can need more loss slots than the split's groups did
        return BatchIterator(tokenized, **options)


def _prompt_and_reference(example: Example) -> tuple[str, str]:
    """The first user turn and the model turn that answers it (what the sample prompts use too)."""
    turns = list(example.turns)
    for index, turn in enumerate(turns):
        if turn.role == "user":
            reference = next((t.text for t in turns[index + 1 :] if t.role == "model"), "")
            return turn.text, reference
    return "", next((t.text for t in turns if t.role == "model"), "")


def evaluate_run(
    run: RunCheckpoint,
    split: str = "validation",
    max_examples: int = 8,
    progress: Callable[[str], None] = lambda message: None,
) -> dict:
    """The report of `run`'s checkpoint on `split` (see gemma_jax.evaluate for the fields)."""
    if split not in SPLITS:
        raise ValueError(f"unknown split {split!r}; use one of {', '.join(SPLITS)}")
    cfg = run.config
    if cfg.method.kind == "dpo":
        raise ValueError("evaluate scores supervised runs; a DPO run's held-out metrics are in its eval records")
    progress(f"building the {split} split")
    datasets = build_datasets(
        cfg.data,
        run.model.tokenizer,
        batch_size=cfg.train.batch_size,
        loss_groups=run.setup.loss_groups,
        prepared=prepare_data(cfg.data, augment=False),
    )
    batches = datasets.validation if split == "validation" else datasets.test
    examples = datasets.validation_examples if split == "validation" else datasets.test_examples
    if batches is None:
        fraction = "data.validation_fraction" if split == "validation" else "data.test_fraction"
        raise DataError(
            f"the run has no {split} split: its config sets no data.{split}_path and {fraction} is 0. "
            f"Pick the other split, or train a run with a {split} split."
        )
    listed = [ex for ex in examples if _prompt_and_reference(ex)[0]][:max_examples]
    report: dict = {"step": run.step, "split": split}
    answers: dict[str, list[str]] = {}
    per_example: dict[str, list[float]] = {}
    generator = Generator(run.model, max_length=run.model.context_length)
    prompts = [prompt_text(_prompt_and_reference(ex)[0]) for ex in listed]
    for name, weights in (("tuned", run.tuned), ("base", run.base)):
        progress(f"scoring the {'fine-tuned' if name == 'tuned' else 'base'} model on {split}")
        loss, tokens = _mean_loss(run, weights, batches.fresh())
        prefix = "" if name == "tuned" else "base_"
        report[prefix + "eval_loss"] = loss
        report[prefix + "perplexity"] = perplexity(loss)
        report["tokens"] = tokens
        per_example[name] = [_mean_loss(run, weights, _single(run, ex, batches))[0] for ex in listed]
        if listed:
            progress(f"answering {len(listed)} prompts with the {'fine-tuned' if name == 'tuned' else 'base'} model")
            run.use(weights)
            answers[name] = generator.generate(prompts, cfg.eval.max_new_tokens)
    report["examples"] = [
        {
            "prompt": _prompt_and_reference(ex)[0],
            "reference": _prompt_and_reference(ex)[1],
            "base_answer": answers["base"][i],
            "tuned_answer": answers["tuned"][i],
            "loss": per_example["tuned"][i],
            "base_loss": per_example["base"][i],
        }
        for i, ex in enumerate(listed)
    ]
    return report
