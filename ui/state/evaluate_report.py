"""What the Evaluate page shows of one report: metric cards, per-example rows, the hardest examples,
the confusion matrix, the sensitivity sweep. Pure functions of the report and its predictions (no Panel).

Reports come in two formats: format 2 (`eval/step-N-SPLIT/report.json` with predictions.jsonl beside
it: gemma_jax.evaluate) and the earlier `eval/step-N-SPLIT.json`, whose `examples` list held the rows
(`tuned_answer`, `base_answer`, `loss`, `base_loss`) and whose only metrics were the losses.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence

LOWER_IS_BETTER = frozenset({"loss", "perplexity"})
NEUTRAL = frozenset({"mean_length"})  # neither direction is better
# A custom metric measuring length (answer_length, avg_len, word_count, num_tokens, ...) is neutral too;
# one judging it (length_ok, the example custom metric) is not: the name must end with the length or count.
LENGTH_LIKE = re.compile(
    r"(?:^|_)(?:length|len|(?:word|token|char|character)s?_count|num_(?:words|tokens|chars))$", re.IGNORECASE
)
HUNDRED_SCALE = frozenset({"bleu", "chrf"})  # sacrebleu's 0-100 scale; the rest are 0-1 or losses
# The cards' BLEU and chrF are sacrebleu's corpus scores over the split; the table's are each answer's own
# (sentence BLEU counts only the word-run lengths an answer has, so short answers differ the most).
METRIC_ABOUT = {
    "bleu": "corpus BLEU over the split: 0 when no answer shares a 4-word run with its reference; the table "
    "scores each answer alone",
    "chrf": "corpus chrF over the split; the table scores each answer alone",
}
CHOICE_PREFIX = "choice_"  # gemma_jax.evaluate.evaluation: the multiple-choice figures among the metrics
SCORE_PREFERENCE = ("rougeL", "chrf", "f1", "exact_match", "bleu", "rouge1", "rouge2", "accuracy")
ORDERS = {
    "As evaluated": None,
    "Highest loss first": "highest_loss",
    "Loss regressions first": "loss_regressions",
    "Score regressions first": "score_regressions",
}


def example_count(report: dict) -> int:
    examples = report.get("examples")
    return examples if isinstance(examples, int) else len(examples or [])


def model_metrics(report: dict) -> tuple[dict, dict, dict, dict]:
    """(tuned, base, delta, interval) by metric; an older report's eval losses stand in for them."""
    tuned, base = dict(report.get("tuned") or {}), dict(report.get("base") or {})
    for prefix, values in (("", tuned), ("base_", base)):
        if not values and report.get(f"{prefix}eval_loss") is not None:
            values.update({"loss": report[f"{prefix}eval_loss"], "perplexity": report.get(f"{prefix}perplexity")})
    delta = dict(report.get("delta") or {})
    for name, value in tuned.items():
        if name not in delta and value is not None and base.get(name) is not None:
            delta[name] = value - base[name]
    return tuned, base, delta, dict(report.get("interval") or {})


def is_length(name: str) -> bool:
    """The metric measures the answers' length (mean_length, a custom answer_length)."""
    return name == "mean_length" or bool(LENGTH_LIKE.search(name))


def direction(name: str) -> int:
    """+1: higher is better, -1: lower is better, 0: neither (a length: longer is not better, nor shorter)."""
    if name in NEUTRAL or is_length(name):
        return 0
    return -1 if name in LOWER_IS_BETTER else 1


def neutral_words(name: str, sign: int) -> str:
    """What a change of a metric with no better direction means, in words ("" for any other metric)."""
    if direction(name) != 0 or not sign:
        return ""
    if is_length(name):
        moved = "longer answers" if sign > 0 else "shorter answers"
    else:
        moved = "higher" if sign > 0 else "lower"
    return f"{moved} than base: neither is better"


def format_value(name: str, value) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    if name in HUNDRED_SCALE:
        return f"{value:.2f}"
    if name == "perplexity":
        return f"{value:.3g}" if abs(value) >= 1000 else f"{value:.2f}"
    return f"{value:.4f}" if abs(value) < 1000 else f"{value:.4g}"


def format_delta(name: str, value) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    return ("+" if value >= 0 else "") + format_value(name, value)


def metric_card(name: str, value, base, change, bounds=None) -> dict:
    """One metric's card: name, tuned, base, delta (texts), `verdict` ("better", "worse", "same",
    "neutral": it changed but neither direction is better, or None: no base), the 95% interval of the
    delta as text, `sure` (it excludes 0), `direction` (+1 higher is better, -1 lower, 0 neither) and
    `sign` (of the change)."""
    verdict = None
    if change is not None and not math.isnan(change):
        signed = change * direction(name)
        if signed:
            verdict = "better" if signed > 0 else "worse"
        else:
            verdict = "neutral" if change else "same"
    low_high = bounds if isinstance(bounds, list | tuple) and len(bounds) == 2 else None
    return {
        "name": name,
        "tuned": format_value(name, value),
        "base": format_value(name, base),
        "delta": format_delta(name, change),
        "verdict": verdict,
        "interval": (
            f"95% CI [{format_delta(name, low_high[0])}, {format_delta(name, low_high[1])}]" if low_high else ""
        ),
        "sure": bool(low_high and (low_high[0] > 0 or low_high[1] < 0)),
        "direction": direction(name),
        "sign": 0 if change is None or math.isnan(change) or change == 0 else (1 if change > 0 else -1),
        "about": METRIC_ABOUT.get(name, ""),
    }


def metric_cards(report: dict | None) -> list[dict]:
    """One card (metric_card) per metric of the report; multiple choice has a section of its own
    (ui.state.evaluate_choice), so its `choice_*` figures are left out here."""
    if not report:
        return []
    tuned, base, delta, interval = model_metrics(report)
    return [
        metric_card(name, value, base.get(name), delta.get(name), interval.get(name))
        for name, value in tuned.items()
        if not name.startswith(CHOICE_PREFIX)
    ]


def normal_row(row: dict, position: int) -> dict:
    """A predictions row in the format-2 shape, whichever report it came from."""
    return {
        "index": row.get("index", position),
        "prompt": row.get("prompt", ""),
        "reference": row.get("reference", ""),
        "tuned": row.get("tuned", row.get("tuned_answer")),
        "base": row.get("base", row.get("base_answer")),
        "tuned_loss": row.get("tuned_loss", row.get("loss")),
        "base_loss": row.get("base_loss"),
        "tuned_scores": dict(row.get("tuned_scores") or {}),
        "base_scores": dict(row.get("base_scores") or {}),
        "tuned_tokens": row.get("tuned_tokens") or [],
        "base_tokens": row.get("base_tokens") or [],
    }


def main_metric(report: dict | None, rows: Sequence[dict]) -> str | None:
    """The per-example score the table shows for each model: the report's first task metric the rows
    carry (its metrics in the order asked for), else a custom metric's."""
    carried = {key for row in rows[:50] for key in row["tuned_scores"] if key != "label"}
    if not carried:
        return None
    asked = [m for m in (report or {}).get("metrics", []) if m in carried]
    if asked:
        return asked[0]
    return next((m for m in SCORE_PREFERENCE if m in carried), min(carried))


def has_labels(rows: Sequence[dict]) -> bool:
    return any("label" in row["tuned_scores"] for row in rows[:50])


def table_columns(metric: str | None, labels: bool) -> list[str]:
    """The table's columns, numbers first (they stay in view; the texts share the rest and wrap)."""
    numbers = ["loss", "base loss"]
    if metric:
        numbers += [metric, f"base {metric}"]
    if labels:
        numbers += ["label", "base label"]
    return ["#", *numbers, "prompt", "reference", "fine-tuned answer", "base answer"]


def table_row(row: dict, metric: str | None, labels: bool) -> dict:
    values = {"#": row["index"], "loss": row["tuned_loss"], "base loss": row["base_loss"]}
    if metric:
        values[metric] = row["tuned_scores"].get(metric)
        values[f"base {metric}"] = row["base_scores"].get(metric)
    if labels:
        values["label"] = row["tuned_scores"].get("label", "")
        values["base label"] = row["base_scores"].get("label", "")
    values.update(
        {
            "prompt": row["prompt"],
            "reference": row["reference"],
            "fine-tuned answer": row["tuned"] if row["tuned"] is not None else "",
            "base answer": row["base"] if row["base"] is not None else "",
        }
    )
    return values


def ordered(rows: Sequence[dict], report: dict | None, order: str | None) -> list[dict]:
    """`rows` with the report's `hardest[order]` examples first, in that list's order."""
    if not order:
        return list(rows)
    listed = ((report or {}).get("hardest") or {}).get(order) or []
    if not listed and order == "highest_loss":  # an older report: rank by its own losses
        ranked = sorted((r for r in rows if r["tuned_loss"] is not None), key=lambda r: -r["tuned_loss"])
        listed = [r["index"] for r in ranked]
    rank = {index: position for position, index in enumerate(listed)}
    return sorted(rows, key=lambda r: (r["index"] not in rank, rank.get(r["index"], 0)))


def hardest_count(report: dict | None, order: str | None) -> int:
    return len(((report or {}).get("hardest") or {}).get(order) or []) if order else 0


def confusion(report: dict | None, model: str) -> dict | None:
    """{"labels", "matrix"} (rows: reference, columns: predicted) of `model`, None without one."""
    found = ((report or {}).get("classification") or {}).get(model)
    if not found or not found.get("labels") or not found.get("confusion"):
        return None
    labels = [str(label) for label in found["labels"]]
    matrix = [[int(n) for n in row] for row in found["confusion"]]
    if len(matrix) > len(labels) or any(len(row) != len(labels) for row in matrix):
        return None  # damaged: never a misdrawn matrix
    return {"labels": labels, "matrix": matrix, "accuracy": found.get("accuracy"), "macro_f1": found.get("macro_f1")}


def in_cell(row: dict, model: str, reference: str, predicted: str) -> bool:
    """The example lies in the confusion matrix's cell (its reference label, `model`'s predicted label)."""
    return row["reference"] == reference and row[f"{model}_scores"].get("label") == predicted


def sweep_series(report: dict | None) -> dict[float, list[tuple[float, float]]]:
    """The sweep's points by top-p: [(temperature, value)] sorted by temperature."""
    series: dict[float, list[tuple[float, float]]] = {}
    for point in (report or {}).get("sweep") or []:
        try:
            top_p, temperature, value = float(point["top_p"]), float(point["temperature"]), float(point["value"])
        except (KeyError, TypeError, ValueError):
            continue
        series.setdefault(top_p, []).append((temperature, value))
    return {top_p: sorted(points) for top_p, points in sorted(series.items(), reverse=True)}


def sweep_metric(report: dict | None) -> str:
    return next((str(p.get("metric")) for p in (report or {}).get("sweep") or [] if p.get("metric")), "")


def settings_text(report: dict | None) -> str:
    """How the answers were made, in words (the report's settings)."""
    settings = (report or {}).get("settings") or {}
    if not settings:
        return ""
    temperature = settings.get("temperature", 0.0)
    parts = ["greedy decoding" if not temperature else f"temperature {temperature:g}"]
    if temperature and settings.get("top_p") is not None:
        parts.append(f"top-p {settings['top_p']:g}")
    if temperature and settings.get("top_k") is not None:
        parts.append(f"top-k {settings['top_k']}")
    if settings.get("max_new_tokens"):
        parts.append(f"at most {settings['max_new_tokens']} new tokens")
    if temperature:
        parts.append(f"seed {settings.get('seed', 0)}")
    return ", ".join(parts)
