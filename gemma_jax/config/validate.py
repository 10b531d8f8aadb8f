"""Every rule a JobConfig must meet before a run starts, reported all at once in user words.

The UI's Review page, the CLI and the engine call the same validate() so a config
that passes here does not fail ten minutes into model loading.
"""

from __future__ import annotations

import dataclasses
import math
import os
import re
import unicodedata
from typing import Any

from gemma_jax.config.convert import field_types, type_problems
from gemma_jax.config.errors import ConfigError, did_you_mean, quoted
from gemma_jax.config.field_spec import FieldSpec
from gemma_jax.config.fields import field_specs
from gemma_jax.config.job_config import JobConfig
from gemma_jax.config.learning_rates import learning_rate_hint
from gemma_jax.config.mesh import batch_split_problems, mesh_shape_problems
from gemma_jax.config.model_config import LORA_TARGETS

# The single-value choice fields and their allowed values, as the fields declare them (field_spec.py).
CHOICES: dict[str, tuple[str, ...]] = {
    path: spec.choices for path, spec in field_specs().items() if spec.choices is not None and not spec.is_list
}
# Hints that depend on other fields: the usual learning rate depends on the method.
_DYNAMIC_HINTS = {
    "optimizer.learning_rate": lambda cfg: learning_rate_hint(
        cfg.method.kind if isinstance(cfg.method.kind, str) else "lora"
    )
}
# A run name is shown in pages, logs and configs: one line, no control or invisible formatting characters
# (Unicode categories Cc, Cf and the like, and line/paragraph separators), short enough for a folder name.
_NAME_FORBIDDEN = {"Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp"}
MAX_NAME_LENGTH = 100
_NAME_SLUG = re.compile(r"[^\w.-]+")  # what a suggested name replaces with '-'


def name_slug(text: str, limit: int = MAX_NAME_LENGTH) -> str:
    """`text` as a run name of letters, digits, '.', '-' and '_' ('' when nothing is left): what the
    run-name problems suggest, and what the wizard proposes from a data source."""
    return _NAME_SLUG.sub("-", text).strip("-.")[:limit].rstrip("-.")


def _get(cfg: JobConfig, path: str) -> Any:
    value: Any = cfg
    for part in path.split("."):
        value = getattr(value, part, None)
    return value


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


class _Checker:
    """Collects problems; each helper skips values of the wrong type (already reported as such)."""

    def __init__(self, cfg: JobConfig) -> None:
        self.cfg = cfg
        self.problems: list[str] = []

    def add(self, message: str) -> None:
        self.problems.append(message)

    def choice(self, path: str) -> None:
        value, options = _get(self.cfg, path), CHOICES[path]
        if isinstance(value, str) and value not in options:
            self.add(f"{path} must be one of {' | '.join(options)}, got {value!r}{did_you_mean(value, options)}")

    def within_bounds(self, spec: FieldSpec) -> None:
        value = _get(self.cfg, spec.path)
        if not _is_number(value):
            return
        hint = _DYNAMIC_HINTS[spec.path](self.cfg) if spec.path in _DYNAMIC_HINTS else spec.hint
        if not math.isfinite(value):  # .inf passes a lower bound, and NaN compares false with any
            self.add(f"{spec.path} must be a finite number, got {value!r}; {hint}")
        elif not spec.allows(value):
            self.add(f"{spec.path} must be {spec.bounds_text()}, got {value!r}; {hint}")

    def not_empty(self, path: str, hint: str) -> None:
        value = _get(self.cfg, path)
        if isinstance(value, str) and not value.strip():
            self.add(f"{path} is empty; {hint}")


def _fields(c: _Checker) -> None:
    """What each field declares of itself: its choices and its bounds (bounds only where method.kind uses it)."""
    kind = c.cfg.method.kind
    for path, spec in field_specs().items():
        if spec.choices is not None and not spec.is_list:
            c.choice(path)
        if spec.bounded and (spec.only_for is None or kind in spec.only_for):
            c.within_bounds(spec)


def _names(c: _Checker) -> None:
    c.not_empty("name", "give the run a short name such as 'my-lora'")
    name = c.cfg.name
    if isinstance(name, str) and (any(ch in name for ch in "/\\") or name.strip() in (".", "..")):
        safe = name_slug(name) or "my-run"
        c.add(
            f"name {quoted(name)} becomes part of the run directory name, so it cannot contain '/' or '\\' "
            f"or be '.' or '..'; e.g. {safe!r}"
        )
    if isinstance(name, str) and any(unicodedata.category(ch) in _NAME_FORBIDDEN for ch in name):
        c.add(
            f"name {quoted(name)}: the run name may not contain line breaks or control characters; "
            "use one line of letters, digits, '-' or '_'"
        )
    if isinstance(name, str) and len(name) > MAX_NAME_LENGTH:
        c.add(
            f"name is {len(name)} characters long; the run name may have at most {MAX_NAME_LENGTH} "
            f"(it becomes part of the run directory name), e.g. {name[:MAX_NAME_LENGTH].strip()!r}"
        )
    c.not_empty("runs_dir", "give the folder that holds run directories, e.g. 'runs'")
    if isinstance(c.cfg.runs_dir, str) and "://" in c.cfg.runs_dir:
        c.add(
            f"runs_dir must be a folder on this machine, got {c.cfg.runs_dir!r}; to keep a run on Cloud Storage set "
            "checkpoint.directory to a gs:// folder: the run's files are copied beside its checkpoints, and "
            "`gemma-jax train --resume gs://...` brings the run back on any machine"
        )


def _data(c: _Checker) -> None:
    c.not_empty("data.train_path", "give a data file, or 'example' for the packaged dataset")
    _data_parsing(c)
    _data_prep(c)


def _data_prep(c: _Checker) -> None:
    """Cleaning, splitting, truncation and augmentation settings (gemma_jax/data/{cleaning,splitting,augment}.py)."""
    data = c.cfg.data
    val, test = data.validation_fraction, data.test_fraction
    if _is_number(val) and _is_number(test) and 0 <= val and 0 <= test and val + test >= 1:
        c.add(
            f"data.validation_fraction ({val}) + data.test_fraction ({test}) leave nothing to train on; "
            "make their sum less than 1, e.g. 0.1 and 0.1"
        )
    for key in ("split_by", "test_path"):
        value = getattr(data, key)
        if isinstance(value, str) and not value.strip():
            c.add(f"data.{key} is empty; use null, or give a value")
    augment = data.augment
    methods, known = getattr(augment, "methods", ()), field_specs()["data.augment.methods"].choices
    if isinstance(methods, tuple) and all(isinstance(m, str) for m in methods):
        for method in methods:
            if method not in known:
                hint = did_you_mean(method, known) or f"; known methods are {', '.join(known)}"
                c.add(f"data.augment.methods: unknown method {method!r}{hint}")
        for method in sorted({m for m in methods if methods.count(m) > 1}):
            c.add(f"data.augment.methods lists {method!r} more than once; use data.augment.copies for more copies")
    language = getattr(augment, "pivot_language", None)
    if "back_translation" in (methods or ()) and isinstance(language, str) and not language.strip():
        c.add("data.augment.pivot_language is empty; name the language to translate through, e.g. French")


def _data_parsing(c: _Checker) -> None:
    """CSV characters, the text encoding and the text regex must be usable before any file is opened."""
    data = c.cfg.data
    for key, value in (("delimiter", data.delimiter), ("quote_char", data.quote_char)):
        if isinstance(value, str) and len(value) != 1:
            c.add(f"data.{key} must be a single character, got {value!r}; e.g. ',' or ';' or '\\t' for a tab")
    if isinstance(data.delimiter, str) and data.delimiter == data.quote_char:
        c.add(f"data.delimiter and data.quote_char are both {data.delimiter!r}; they must differ")
    if isinstance(data.encoding, str):
        import codecs

        try:
            codecs.lookup(data.encoding)
        except LookupError:
            c.add(f"data.encoding {data.encoding!r} is not a known text encoding; e.g. utf-8, latin-1, cp1252")
    regex = data.text_regex
    if data.text_mode == "regex" and not (isinstance(regex, str) and regex.strip()):
        c.add("data.text_mode is regex but data.text_regex is empty; give a pattern with named groups")
    if isinstance(regex, str) and regex.strip():
        import re

        try:
            pattern = re.compile(regex)
        except re.error as err:
            c.add(f"data.text_regex is not a valid regular expression ({err}); fix the pattern")
        else:
            if not pattern.groupindex:
                c.add("data.text_regex has no named groups; name them after columns, e.g. (?P<prompt>.*)")


def _model_and_method(c: _Checker) -> None:
    c.not_empty("model.source", "give a Keras preset directory or e.g. 'tiny:gemma3'")
    adapter = c.cfg.model.adapter
    if adapter is not None and not os.path.isfile(
        os.path.join(os.path.expanduser(str(adapter)), "adapter_config.json")
    ):
        c.add(
            f"model.adapter {adapter!r} is not a PEFT adapter folder (no adapter_config.json in it); give the folder "
            "PEFT's save_pretrained or `gemma-jax export --formats peft` wrote, or leave it empty"
        )
    _quantization(c)
    if c.cfg.method.kind == "full":
        return  # LoRA settings are unused by full fine-tuning
    targets = c.cfg.method.lora_targets
    if not isinstance(targets, tuple) or not all(isinstance(t, str) for t in targets):
        return
    known = ", ".join(LORA_TARGETS)
    if not targets:
        c.add(f"method.lora_targets is empty; list at least one of {known}, e.g. [query, value]")
    for target in targets:
        if target not in LORA_TARGETS:
            hint = did_you_mean(target, LORA_TARGETS) or f"; known targets are {known}"
            c.add(f"method.lora_targets: unknown target {target!r}{hint}")
    for target in sorted({t for t in targets if targets.count(t) > 1}):
        c.add(f"method.lora_targets lists {target!r} more than once; remove the repeats")


def _quantization(c: _Checker) -> None:
    """QLoRA quantizes the frozen base; nothing else may ask for quantization."""
    kind, quantization = c.cfg.method.kind, c.cfg.method.quantization
    if quantization is None or kind == "qlora" or kind not in CHOICES["method.kind"]:
        return
    if kind == "full":
        c.add(
            f"method.quantization={quantization} cannot be used with method.kind=full: full fine-tuning trains the "
            "base weights, which a quantized base cannot; use method.kind=qlora, or remove method.quantization"
        )
    else:
        c.add(
            f"method.quantization={quantization} only applies to method.kind=qlora (LoRA on a quantized base); "
            f"set method.kind=qlora, or remove method.quantization for plain {kind}"
        )


def _schedule_and_train(c: _Checker) -> None:
    batch, accum = c.cfg.train.batch_size, c.cfg.train.grad_accum_steps
    if _is_number(batch) and _is_number(accum) and batch >= 1 and accum >= 1 and batch % accum:
        example = -(-batch // accum) * accum
        c.add(
            f"train.batch_size={batch} is not divisible by train.grad_accum_steps={accum}; use a "
            f"train.batch_size that is a multiple of {accum}, e.g. {example}"
        )
    _webhook(c)


def _webhook(c: _Checker) -> None:
    url = c.cfg.train.webhook_url
    if not isinstance(url, str):
        return
    from urllib.parse import urlsplit

    parts = urlsplit(url.strip())
    if parts.scheme not in ("http", "https") or not parts.netloc:
        c.add(
            f"train.webhook_url {url!r} is not an http(s) URL; give e.g. 'https://example.com/hooks/gemma', "
            "or null for no notification"
        )


def _checkpoint_and_eval(c: _Checker) -> None:
    directory = c.cfg.checkpoint.directory
    if isinstance(directory, str) and not directory.strip():
        c.add("checkpoint.directory is empty; use null for RUN_DIR/checkpoints, or give a folder or gs:// path")
    _eval_metrics(c)
    _early_stopping(c)


def _eval_metrics(c: _Checker) -> None:
    from gemma_jax.metrics.selection import parse_metric_names

    metrics, custom = c.cfg.eval.metrics, c.cfg.eval.custom_metrics
    if not isinstance(metrics, tuple | list) or not all(isinstance(m, str) for m in metrics):
        c.add("eval.metrics must be a list of metric names, e.g. [rougeL, chrf], or [] to choose by the data")
    else:
        try:
            parse_metric_names(list(metrics))
        except ValueError as err:
            c.add(f"eval.metrics: {err}")
    if not isinstance(custom, tuple | list) or not all(isinstance(m, str) and ":" in m for m in custom):
        c.add("eval.custom_metrics must be a list of 'module:function' names, e.g. ['my_metrics:length_ok']")


def _early_stopping(c: _Checker) -> None:
    patience, data = c.cfg.eval.early_stop_patience, c.cfg.data
    if not (_is_number(patience) and patience > 0):
        return
    if c.cfg.eval.every_steps == 0:
        c.add(
            f"eval.early_stop_patience={patience} needs periodic evaluation, but eval.every_steps is 0; "
            "set eval.every_steps (e.g. 50), or eval.early_stop_patience=0"
        )
    if data.validation_path is None and data.validation_fraction == 0:
        c.add(
            f"eval.early_stop_patience={patience} needs a validation split, but data.validation_fraction is 0 "
            "and there is no data.validation_path; hold out e.g. data.validation_fraction=0.1"
        )


def _with_hardware(c: _Checker, device_count: int | None, model_context_length: int | None) -> None:
    cfg = c.cfg
    mesh_problems = mesh_shape_problems(cfg.mesh, device_count)
    c.problems.extend(mesh_problems)
    train_ok = (
        _is_number(cfg.train.batch_size)
        and _is_number(cfg.train.grad_accum_steps)
        and cfg.train.batch_size >= 1
        and cfg.train.grad_accum_steps >= 1
        and cfg.train.batch_size % cfg.train.grad_accum_steps == 0
    )
    mesh_ok = all(_is_number(getattr(cfg.mesh, f.name)) for f in dataclasses.fields(cfg.mesh))
    if train_ok and mesh_ok and not mesh_problems:
        c.problems.extend(batch_split_problems(cfg.train, cfg.mesh, device_count))
    length = cfg.data.sequence_length
    if model_context_length is not None and _is_number(length) and length > model_context_length:
        c.add(
            f"data.sequence_length={length} is longer than the model's context length "
            f"{model_context_length}; use {model_context_length} or less"
        )


def validate(
    cfg: JobConfig,
    *,
    device_count: int | None = None,
    model_context_length: int | None = None,
    model_num_layers: int | None = None,
) -> list[str]:
    """Every problem with `cfg` as a message naming the field and the fix; [] means ready to run.

    device_count and model_context_length add the checks that need the hardware or the
    model. model_num_layers is accepted for rules on per-layer settings; no field uses it yet.
    Whether the job fits in memory is gemma_jax.preflight's question (it needs the model's shape).
    """
    if not isinstance(cfg, JobConfig):
        raise TypeError(f"validate() needs a JobConfig, got {type(cfg).__name__}")
    checker = _Checker(cfg)
    checker.problems.extend(type_problems(cfg))
    sections = {name: tp for name, tp in field_types(JobConfig).items() if dataclasses.is_dataclass(tp)}
    wrong = [name for name, tp in sections.items() if not isinstance(getattr(cfg, name), tp)]
    for name in wrong:
        checker.add(
            f"{name} must be a {sections[name].__name__}, got {type(getattr(cfg, name)).__name__}; "
            "build configs with config_from_dict() or the section classes"
        )
    if wrong:
        return checker.problems  # the rules below read sections as dataclasses
    for rules in (_names, _fields, _data, _model_and_method, _schedule_and_train, _checkpoint_and_eval):
        rules(checker)
    _with_hardware(checker, device_count, model_context_length)
    return checker.problems


def check(cfg: JobConfig, **kwargs: Any) -> JobConfig:
    """validate(), raising ConfigError with every problem; returns `cfg` so calls can be chained."""
    problems = validate(cfg, **kwargs)
    if problems:
        raise ConfigError(problems)
    return cfg
