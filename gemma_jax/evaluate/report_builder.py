"""From answers and reference scores to the report: metrics of the tuned and the base model, the
difference with its bootstrap interval, custom metrics, the hardest examples, and one row per example
for predictions.jsonl. Pure Python over lists (no JAX), so it is tested on crafted answers."""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from gemma_jax.metrics import CLASSIFICATION_METRICS, TEXT_METRICS, compare_predictions, custom_scores
from gemma_jax.metrics.bootstrap import corpus_difference_interval, mean_difference_interval

MODELS = ("tuned", "base")
HARDEST = 10  # how many examples each error-analysis list names


@dataclass
class ModelAnswers:
    """One model's results on the listed examples (None where an example was not reached or did not fit)."""

    answers: list[str | None]
    losses: list[float | None] = field(default_factory=list)  # mean NLL per token of the reference answer
    tokens: list[list[dict] | None] = field(default_factory=list)  # per reference token: piece, log_prob, top


def data_hash(prompts: Sequence[str], references: Sequence[str]) -> str:
    """A content hash of the evaluated examples: two reports with equal hashes scored the same data."""
    digest = hashlib.sha256()
    for prompt, reference in zip(prompts, references, strict=True):
        digest.update(json.dumps([prompt, reference], ensure_ascii=False).encode("utf-8"))
    return "sha256:" + digest.hexdigest()


def _mean(values: Sequence[float]) -> float | None:
    return float(sum(values) / len(values)) if values else None


def _custom(specs, answers, references, examples, search_path) -> tuple[list[dict], dict[str, str]]:
    if not specs:
        return [{} for _ in answers], {}
    return custom_scores(specs, answers, references, examples, search_path)


def build_report(
    metrics: Sequence[str],
    references: Sequence[str],
    examples: Sequence[dict],
    results: dict[str, ModelAnswers],
    corpus_loss: dict[str, float],
    custom_specs: Sequence[str] = (),
    search_path: Sequence[str] = (),
) -> tuple[dict, list[dict]]:
    """({"metrics", "examples", "tuned", "base", "delta", "interval", "classification"?, "custom_errors",
    "hardest"}, rows). Task metrics cover the examples both models answered (all of them unless the
    run was interrupted; with no base answers at all, the tuned model's alone)."""
    count = len(references)
    have = {
        name: [i for i in range(count) if results[name].answers[i] is not None] for name in MODELS if name in results
    }
    both = sorted(set(have.get("tuned", [])) & set(have.get("base", [])))
    scored_models = MODELS if both else ("tuned",)
    kept = both if both else have.get("tuned", [])
    task = [m for m in metrics if m in TEXT_METRICS or m in CLASSIFICATION_METRICS]
    refs = [references[i] for i in kept]
    answers = {name: [results[name].answers[i] for i in kept] for name in scored_models}
    summary: dict = {
        "metrics": list(metrics),
        "examples": len(kept),
        "tuned": {},
        "base": {},
        "delta": {},
        "interval": {},
    }
    if task and kept:
        compared = compare_predictions(task, answers["tuned"], answers.get("base", answers["tuned"]), refs)
        per_example = compared["per_example"]
        for name in scored_models:
            summary[name].update(compared[name])
        if "base" in scored_models:
            summary["delta"].update(compared["delta"])
            summary["interval"].update(compared["interval"])
        if "classification" in compared:
            summary["classification"] = {
                name: {k: v for k, v in compared["classification"][name].items() if k != "predicted"}
                for name in scored_models
            }
    else:
        per_example = [{"tuned": {}, "base": {}} for _ in kept]
    _add_loss(summary, metrics, results, corpus_loss, scored_models)
    custom_rows, summary["custom_errors"] = {}, {}
    for name in scored_models:
        custom_rows[name], errors = _custom(custom_specs, answers[name], refs, [examples[i] for i in kept], search_path)
        summary["custom_errors"].update(errors)
        keys = sorted({key for row in custom_rows[name] for key in row})
        for key in keys:
            summary[name][key] = _mean([row[key] for row in custom_rows[name] if key in row])
    if "base" in scored_models:
        for key in sorted({k for row in custom_rows["tuned"] for k in row}):
            tuned = [row.get(key, math.nan) for row in custom_rows["tuned"]]
            base = [row.get(key, math.nan) for row in custom_rows["base"]]
            summary["delta"][key] = summary["tuned"][key] - summary["base"][key]
            summary["interval"][key] = mean_difference_interval(tuned, base)
    rows = []
    for position, index in enumerate(kept):
        scores = per_example[position] if position < len(per_example) else {"tuned": {}, "base": {}}
        row = {"index": index, "prompt": examples[index]["prompt"], "reference": references[index]}
        for name in MODELS:
            result = results.get(name)
            row[name] = result.answers[index] if result is not None else None
            row[f"{name}_loss"] = result.losses[index] if result is not None and result.losses else None
            row[f"{name}_scores"] = {**scores.get(name, {}), **(custom_rows.get(name, [{}] * len(kept))[position])}
            row[f"{name}_tokens"] = result.tokens[index] if result is not None and result.tokens else None
        rows.append(row)
    order = {name: position for position, name in enumerate(metrics)}
    for name in MODELS:  # the metrics in the order asked for, custom ones after
        summary[name] = dict(sorted(summary[name].items(), key=lambda item: order.get(item[0], len(order))))
    summary["hardest"] = hardest_examples(rows)
    return summary, rows


def _add_loss(summary: dict, metrics, results, corpus_loss: dict[str, float], models) -> None:
    """loss/perplexity: the split's loss as training computes it; the interval from per-example losses."""
    if "loss" not in metrics and "perplexity" not in metrics:
        return
    for name in models:
        if name in corpus_loss:
            if "loss" in metrics:
                summary[name]["loss"] = corpus_loss[name]
            if "perplexity" in metrics:
                summary[name]["perplexity"] = math.exp(min(corpus_loss[name], 50.0))
    if "base" in models and "tuned" in corpus_loss and "base" in corpus_loss:
        for key in ("loss", "perplexity"):
            if key in metrics:
                summary["delta"][key] = summary["tuned"][key] - summary["base"][key]
        if "loss" in metrics:
            summary["interval"]["loss"] = _loss_interval(results)


def _loss_interval(results: dict[str, ModelAnswers]):
    """95% interval of the tuned-minus-base loss per token, resampling examples with their token counts
    (a ratio, as the split's loss is: long answers weigh more), from the reference scores."""
    tuned, base = results["tuned"], results["base"]
    kept = [
        i
        for i in range(len(tuned.losses or []))
        if tuned.losses[i] is not None and i < len(base.losses or []) and base.losses[i] is not None
    ]
    if len(kept) < 2:
        return None
    counts = np.asarray([len(tuned.tokens[i]) if tuned.tokens and tuned.tokens[i] else 1 for i in kept], float)
    tuned_sum = np.asarray([tuned.losses[i] for i in kept]) * counts
    base_sum = np.asarray([base.losses[i] for i in kept]) * counts

    def difference(indices) -> float:
        return float((tuned_sum[indices].sum() - base_sum[indices].sum()) / counts[indices].sum())

    return corpus_difference_interval(difference, len(kept), resamples=1000)


def hardest_examples(rows: Sequence[dict], count: int = HARDEST) -> dict[str, list[int]]:
    """Example indices worth reading first: the highest tuned loss, and the biggest regressions against
    the base model (loss rose the most; a task score fell the most)."""
    with_loss = [r for r in rows if r.get("tuned_loss") is not None]
    highest = sorted(with_loss, key=lambda r: -r["tuned_loss"])[:count]
    both = [r for r in with_loss if r.get("base_loss") is not None]
    loss_up = sorted(both, key=lambda r: -(r["tuned_loss"] - r["base_loss"]))
    regressions = [r["index"] for r in loss_up if r["tuned_loss"] > r["base_loss"]][:count]
    score_key = next(
        (k for k in ("rougeL", "chrf", "f1", "exact_match", "bleu") if rows and k in rows[0].get("tuned_scores", {})),
        None,
    )
    fell = []
    if score_key is not None:
        drops = sorted(rows, key=lambda r: r["tuned_scores"].get(score_key, 0) - r["base_scores"].get(score_key, 0))
        fell = [r["index"] for r in drops if r["tuned_scores"].get(score_key, 0) < r["base_scores"].get(score_key, 0)][
            :count
        ]
    return {"highest_loss": [r["index"] for r in highest], "loss_regressions": regressions, "score_regressions": fell}
