"""A user's own metric: `eval.custom_metrics: ["my_module:my_metric"]`, a callable
`(prediction, reference, example) -> float | dict[str, float]`, imported from the run's folder or
the Python path. A metric that fails is reported by name and the others still count."""

from __future__ import annotations

import importlib
import math
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

from gemma_jax.messages import cap_message

MetricFunction = Callable[[str, str, dict], "float | dict[str, float]"]


class CustomMetricError(ValueError):
    """A custom metric that cannot be loaded or that failed: the message names it and says why."""


def load_metric(spec: str, search_path: Sequence[str | Path] = ()) -> MetricFunction:
    """The callable named by "module:function" (dots allowed on both sides)."""
    module_name, _, attribute = spec.partition(":")
    if not module_name or not attribute:
        raise CustomMetricError(f"custom metric {spec!r}: write it as 'module:function', e.g. 'my_metrics:length_ok'")
    added = [str(Path(p)) for p in search_path if str(Path(p)) not in sys.path]
    _forget_shadowed(module_name.split(".")[0], search_path)
    sys.path[:0] = added
    try:
        target = importlib.import_module(module_name)
        for part in attribute.split("."):
            target = getattr(target, part)
    except Exception as err:  # noqa: BLE001  (an import of user code can raise anything)
        raise CustomMetricError(
            cap_message(f"custom metric {spec!r} could not be loaded: {type(err).__name__}: {err}")
        ) from None
    finally:
        for path in added:
            if path in sys.path:
                sys.path.remove(path)
    if not callable(target):
        raise CustomMetricError(f"custom metric {spec!r} is not a function")
    return target


def _forget_shadowed(top: str, search_path: Sequence[str | Path]) -> None:
    """Drop an already imported module named like the user's when the user's folder holds another
    file of that name (a long-lived process evaluating two runs, each with its own my_metrics.py)."""
    cached = sys.modules.get(top)
    cached_file = Path(getattr(cached, "__file__", None) or "").resolve() if cached else None
    for folder in search_path:
        for candidate in (Path(folder) / f"{top}.py", Path(folder) / top / "__init__.py"):
            if cached is not None and candidate.is_file() and candidate.resolve() != cached_file:
                for name in [n for n in sys.modules if n == top or n.startswith(top + ".")]:
                    del sys.modules[name]
                return


def _as_scores(spec: str, value) -> dict[str, float]:
    name = spec.partition(":")[2].split(".")[-1]
    items = value.items() if isinstance(value, dict) else [(name, value)]
    scores = {}
    for key, number in items:
        number = float(number)
        if not math.isfinite(number):
            raise ValueError(f"{key} is {number}")
        scores[str(key)] = number
    return scores


def custom_scores(
    specs: Sequence[str],
    predictions: Sequence[str],
    references: Sequence[str],
    examples: Sequence[dict],
    search_path: Sequence[str | Path] = (),
) -> tuple[list[dict[str, float]], dict[str, str]]:
    """Per-example scores of every custom metric, and {spec: error} for those that failed (a metric
    failing on any example is left out whole, so its mean never covers only the easy examples)."""
    rows: list[dict[str, float]] = [{} for _ in predictions]
    errors: dict[str, str] = {}
    for spec in specs:
        try:
            function = load_metric(spec, search_path)
            values = [
                _as_scores(spec, function(p, r, e)) for p, r, e in zip(predictions, references, examples, strict=True)
            ]
        except CustomMetricError as err:
            errors[spec] = str(err)
            continue
        except Exception as err:  # noqa: BLE001  (user code: any failure is reported, the others go on)
            errors[spec] = cap_message(f"custom metric {spec!r} failed: {type(err).__name__}: {err}", 500)
            continue
        for row, value in zip(rows, values, strict=True):
            row.update(value)
    return rows, errors
