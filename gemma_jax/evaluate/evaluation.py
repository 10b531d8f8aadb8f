"""Score a checkpoint and its base model on a whole held-out split, and compare their answers.

The split is built by the training data pipeline (same cleaning, split, template, tokenization and
packing) and its loss comes from the training setup's own compiled evaluation step, so `loss` is the
number training logs. Every example with a prompt is then answered by both models, many prompts per
decoder call (gemma_jax.evaluate.answers), and its reference answer scored token by token under each
model (per-example loss, and the top alternatives at each position: gemma_jax.models.scoring). Task
metrics, intervals and the error-analysis lists come from report_builder. Each stage reports its
progress (gemma_jax.jobs.progress). Ctrl-C keeps what is done: the report says `partial`.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from gemma_jax.data import build_datasets, prepare_data, prompt_text
from gemma_jax.data.errors import DataError
from gemma_jax.evaluate.answers import AnsweringInterrupted, answer_prompts, length_order
from gemma_jax.evaluate.choices import read_choice_questions, score_choice_questions
from gemma_jax.evaluate.report_builder import ModelAnswers, build_report, data_hash
from gemma_jax.evaluate.run_checkpoint import RunCheckpoint, Weights
from gemma_jax.evaluate.settings import MAX_AUTO_NEW_TOKENS, EvalSettings
from gemma_jax.evaluate.sweep import sweep_metric, sweep_settings
from gemma_jax.jobs.progress import ProgressReporter, silent
from gemma_jax.metrics.selection import choose_metrics
from gemma_jax.models.generation import Generator
from gemma_jax.models.scoring import score_continuations

MAX_PERPLEXITY_LOSS = 50.0  # exp() of larger losses overflows; such a model is useless anyway
TOP_ALTERNATIVES = 5
KEPT_TOKENS = 256  # per-token probabilities kept per example (the view shows the start of long answers)


def perplexity(loss: float) -> float:
    return math.exp(min(loss, MAX_PERPLEXITY_LOSS))


def _mean_loss(run: RunCheckpoint, weights: Weights, batches, each_batch=None) -> tuple[float, int]:
    """Mean loss per loss token over `batches`, and how many loss tokens there were.

    each_batch(n) is called after the n-th batch is scored (for progress)."""
    total, count = 0.0, 0.0
    for done, host_batch in enumerate(batches, 1):
        loss_sum, tokens = run.setup.steps.evaluate(
            weights.trainable, weights.frozen, run.setup.device_batch(host_batch)
        )
        total, count = total + float(loss_sum), count + float(tokens)
        if each_batch is not None:
            each_batch(done)
    return total / max(count, 1.0), int(count)


def prompt_and_reference(example) -> tuple[str, str]:
    """The first user turn and the model turn that answers it (what the sample prompts use too)."""
    turns = list(example.turns)
    for index, turn in enumerate(turns):
        if turn.role == "user":
            reference = next((t.text for t in turns[index + 1 :] if t.role == "model"), "")
            return turn.text, reference
    return "", next((t.text for t in turns if t.role == "model"), "")


def _split(run: RunCheckpoint, split: str):
    cfg = run.config
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
    return batches, examples


def _token_rows(score) -> list[dict]:
    return [
        {"piece": t.piece, "log_prob": t.log_prob, "top": [[piece, lp] for piece, lp in t.alternatives]}
        for t in score.tokens[:KEPT_TOKENS]
    ]


def score_references(
    generator: Generator,
    prompts: Sequence[str],
    references: Sequence[str],
    batch_size: int,
    progress: ProgressReporter = silent,
    detail: str = "",
) -> tuple[list[float | None], list[list[dict] | None]]:
    """Each reference answer's mean negative log-likelihood per token after its prompt, and its tokens
    with their log-probabilities and top alternatives; None for an empty reference or one that does
    not fit the context. The answer is scored as training's loss sees it: its text, then the turn's
    closing `<end_of_turn>` and newline (the model must also know when to stop)."""
    tokenizer = generator.model.tokenizer
    closing = [tokenizer.end_of_turn_id, *tokenizer.encode("\n")]
    answers = [[*tokenizer.encode(r), *closing] if r else [] for r in references]
    fits = [
        i
        for i, (p, ids) in enumerate(zip(prompts, answers, strict=True))
        if ids and 1 + len(tokenizer.encode(p)) + len(ids) <= generator.max_length
    ]
    losses: list[float | None] = [None] * len(prompts)
    tokens: list[list[dict] | None] = [None] * len(prompts)
    order = sorted(fits, key=lambda i: len(prompts[i]) + len(references[i]))
    progress("reference scores", 0, len(order), unit="examples", detail=detail)
    for first in range(0, len(order), batch_size):
        chunk = order[first : first + batch_size]
        scores = score_continuations(
            generator, [prompts[i] for i in chunk], [answers[i] for i in chunk], TOP_ALTERNATIVES, len(chunk)
        )
        for index, score in zip(chunk, scores, strict=True):
            losses[index] = -score.log_likelihood / len(score.tokens)
            tokens[index] = _token_rows(score)
        progress("reference scores", first + len(chunk), len(order), unit="examples", detail=detail)
    return losses, tokens


def evaluate_run(
    run: RunCheckpoint,
    settings: EvalSettings | None = None,
    progress: ProgressReporter = silent,
    search_path: Sequence[str] = (),
) -> tuple[dict, list[dict]]:
    """(report, rows) of `run`'s checkpoint on `settings.split`: see gemma_jax.evaluate for the fields.

    Ctrl-C (KeyboardInterrupt) while answering or scoring ends the pass: the report covers the examples
    both models finished (`partial`: true)."""
    settings = settings or EvalSettings()
    cfg = run.config
    if cfg.method.kind == "dpo":
        raise ValueError("evaluate scores supervised runs; a DPO run's held-out metrics are in its eval records")
    progress("preparing the data", detail=f"{settings.split} split")
    batches, examples = _split(run, settings.split)
    pairs = [(prompt_and_reference(ex), ex) for ex in examples]
    listed = [(p, r, ex) for (p, r), ex in pairs if p]
    if settings.max_examples is not None:
        listed = listed[: settings.max_examples]
    prompts, references = [p for p, _, _ in listed], [r for _, r, _ in listed]
    kinds = {ex.kind for _, _, ex in listed}
    shape = "classification" if kinds == {"classification"} else "generation"
    metrics = choose_metrics(settings.metrics or cfg.eval.metrics, shape, references)
    generator = Generator(run.model, max_length=run.model.context_length)
    tokenizer = run.model.tokenizer
    longest = max((len(tokenizer.encode(r)) for r in references), default=0)
    max_new = settings.max_new_tokens or min(MAX_AUTO_NEW_TOKENS, longest + 16)
    formatted = [prompt_text(p) for p in prompts]
    order = length_order(formatted, tokenizer)
    questions = read_choice_questions(settings.choices_path) if settings.choices_path else []
    choice: dict[str, dict] = {}
    corpus_loss: dict[str, float] = {}
    results: dict[str, ModelAnswers] = {}
    partial, tokens_counted = False, 0
    for name, weights in (("tuned", run.tuned), ("base", run.base)):
        model = "fine-tuned model" if name == "tuned" else "base model"
        try:
            if "loss" in metrics or "perplexity" in metrics:
                total = batches.total_steps
                corpus_loss[name], tokens_counted = _mean_loss(
                    run,
                    weights,
                    batches.fresh(),
                    lambda done, model=model, total=total: progress("loss", done, total, unit="batches", detail=model),
                )
            run.use(weights)
            result = ModelAnswers([None] * len(prompts), [None] * len(prompts), [None] * len(prompts))
            results[name] = result
            if prompts:
                result.answers = answer_prompts(generator, formatted, settings, max_new, progress, model, order)
                result.losses, result.tokens = score_references(
                    generator, formatted, references, settings.batch_size, progress, model
                )
            if questions:
                progress("multiple choice", detail=f"{len(questions)} questions, {model}")
                choice[name] = score_choice_questions(_likelihoods(generator, settings.batch_size), questions)
        except AnsweringInterrupted as stop:
            results[name].answers, partial = stop.answers, True
            break
        except KeyboardInterrupt:
            partial = True
            break
    sweep = []
    if settings.sweep and not partial and prompts and (metric := sweep_metric(metrics)):
        run.use(run.tuned)
        sweep = sweep_settings(generator, formatted, references, settings, max_new, metric, progress)
    progress("scoring the answers", detail=", ".join(metrics))
    summary, rows = build_report(
        metrics,
        references,
        [{"prompt": p, "reference": r, "kind": ex.kind} for p, r, ex in listed],
        results,
        corpus_loss,
        settings.custom_metrics or cfg.eval.custom_metrics,
        search_path,
    )
    report = {
        "format": 2,
        "step": run.step,
        "split": settings.split,
        "partial": partial,
        "total_examples": len(listed),
        "data_hash": data_hash(prompts, references),
        "tokens": tokens_counted,
        "settings": {**settings.as_dict(), "max_new_tokens": max_new, "weights": generator.weight_dtype},
        **summary,
    }
    if sweep:
        report["sweep"] = sweep
    if choice:
        report["choice"] = {"file": settings.choices_path, "questions": len(questions), **choice}
        for name, scores in choice.items():
            report[name].update({f"choice_{key}": scores[key] for key in ("accuracy", "accuracy_norm")})
        if "base" in choice:
            for key in ("accuracy", "accuracy_norm"):
                report["delta"][f"choice_{key}"] = choice["tuned"][key] - choice["base"][key]
    # The names the dashboard and older reports used.
    for name, prefix in (("tuned", ""), ("base", "base_")):
        if name in corpus_loss:
            report[prefix + "eval_loss"] = corpus_loss[name]
            report[prefix + "perplexity"] = perplexity(corpus_loss[name])
    return report, rows


def _likelihoods(generator: Generator, batch_size: int):
    """The scorer multiple choice needs: each continuation's log-likelihood after its (chat-formatted) question."""

    def scorer(prompts: Sequence[str], continuations: Sequence[str]) -> list[float]:
        formatted = [prompt_text(p) for p in prompts]
        scores = score_continuations(generator, formatted, continuations, 1, batch_size)
        return [score.log_likelihood for score in scores]

    return scorer
