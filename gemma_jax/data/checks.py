"""Build the DataReport: read a source once (streaming) and check everything before training.

Checks: format compliance and values (from the readers and the converter), column
consistency, missing/empty values, duplicates, examples longer than the sequence
length (tokens cut; exact with a tokenizer, else estimated), label balance and a
per-example quality score with its reasons.
"""

from __future__ import annotations

import hashlib
import math
import re
from collections import Counter, defaultdict

from gemma_jax.config.job_config import DataConfig
from gemma_jax.data import limits
from gemma_jax.data.chat_template import render_text
from gemma_jax.data.errors import DataError
from gemma_jax.data.example import Example
from gemma_jax.data.preference_pair import PreferencePair, pair_examples
from gemma_jax.data.readers import EXAMPLE_DATASET, resolve_path, stream_items
from gemma_jax.data.report import DataReport, Location, Problem, Quality

CHARS_PER_TOKEN = 4  # the length estimate without a tokenizer
MINOR_CLASS_RATIO = 0.1  # a label with fewer than this fraction of the largest label's rows is flagged
_HTML = re.compile(r"</?[a-zA-Z][a-zA-Z0-9]*(\s[^<>]*)?/?>")
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
_RUN = re.compile(r"(.)\1{19,}")
_REPEATED_WORD = re.compile(r"\b(\w+)(\s+\1\b){4,}", re.IGNORECASE)
_GEMMA_TOKENS = ("<start_of_turn>", "<end_of_turn>", "<bos>", "<eos>")


LISTED_PER_CODE = 1000  # streaming reports list this many findings of each kind and count the rest


def build_report(
    path: str,
    cfg: DataConfig,
    tokenizer=None,
    sequence_length: int | None = None,
    *,
    keep_examples: bool = True,
) -> DataReport:
    """Check one source and return the report (never raises for problems in the data itself).

    `keep_examples=False` is for files too big to hold: memory stays bounded by the number of
    distinct rows (an 8-byte digest and a line number each, for duplicates). Examples and perfect
    quality scores are not kept, and at most LISTED_PER_CODE findings of each kind are listed.
    """
    display = str(resolve_path(path)) if path == EXAMPLE_DATASET else path
    report = DataReport(file=display, tokens_estimated=tokenizer is None)
    try:
        src, mapping, items = stream_items(path, cfg, listed_per_code=None if keep_examples else LISTED_PER_CODE)
    except DataError as err:
        report.problems.append(Problem(Location(display), str(err), code="format"))
        return report
    report.format = src.format
    report.shape = mapping.shape if mapping else "unknown"
    report.columns = dict(mapping.columns) if mapping else {}
    limit = sequence_length or cfg.sequence_length
    checker = _Checker(report, report.columns, limit, tokenizer, cfg.loss_on, keep_examples)
    try:
        pending = None  # a record is judged once the next one's start line is known
        for converted in items:
            if pending is not None:
                _check_decoded(checker, src, pending, converted.location.line)
            pending = converted
        if pending is not None:
            _check_decoded(checker, src, pending, None)
    except DataError as err:  # raised mid-stream (e.g. a bad regex); what was read so far is kept
        src.problems.append(Problem(Location(display), str(err), code="format"))
    checker.finish()
    report.omitted_problems += src.omitted
    report.problems = sorted(_listed(src.problems, report, keep_examples), key=_order) + sorted(
        checker.problems, key=_order
    )
    if report.records == 0 and not report.errors:
        report.problems.append(Problem(Location(display), "the source has no rows. Add examples.", code="empty"))
    return report


def _check_decoded(checker: _Checker, src, converted, next_line: int | None) -> None:
    """Check one record; one holding a line that did not decode (reported there, its characters replaced)
    counts as a row but never becomes an example: training on U+FFFD would teach the model garbage."""
    garbled = src.claim_undecodable(converted.location.line, next_line)
    checker.record(converted.location, converted.record, None if garbled else converted.item)


def _listed(problems: list[Problem], report: DataReport, everything: bool) -> list[Problem]:
    """All problems, or the first LISTED_PER_CODE of each code (the rest counted in the report)."""
    if everything:
        return problems
    seen: Counter[str] = Counter()
    kept = []
    for problem in problems:
        seen[problem.code] += 1
        if seen[problem.code] <= LISTED_PER_CODE:
            kept.append(problem)
        else:
            report.omitted_problems += 1
    return kept


def _order(problem: Problem) -> tuple:
    loc = problem.location
    return (loc.line if loc.line is not None else loc.row if loc.row is not None else 0,)


class _Checker:
    def __init__(self, report: DataReport, columns: dict[str, str], limit: int, tokenizer, loss_on: str, keep: bool):
        self.report, self.columns, self.limit, self.tokenizer, self.loss_on = report, columns, limit, tokenizer, loss_on
        self.keep = keep
        self.problems: list[Problem] = []
        self.listed: Counter[str] = Counter()
        self.seen: dict[int, tuple[int | None, int | None]] = {}  # digest -> (line, row) of its first row
        self.reference_keys: frozenset[str] | None = None
        self.odd_keys: dict[tuple[tuple[str, ...], tuple[str, ...]], list[Location]] = defaultdict(list)
        self.labels: Counter[str] = Counter()

    def record(self, location: Location, record: dict, item: Example | PreferencePair | None) -> None:
        report = self.report
        report.records += 1
        self._consistency(location, record)
        for column in self.columns.values():
            if _is_empty(record.get(column)):
                report.empty_values[column] = report.empty_values.get(column, 0) + 1
        if item is None:
            return
        reasons: list[str] = []
        score = 1.0
        digest = _digest(item)
        if digest in self.seen:
            line, row = self.seen[digest]
            first = Location(location.file, line=line, row=row)
            report.duplicates += 1
            message = f"this row repeats {first.where() or 'an earlier row'}; duplicates over-weight one example."
            self._problem(Problem(location, message, severity="warning", code="duplicate"))
            reasons.append(f"duplicate of {first.where()}")
            score -= 0.3
        else:
            self.seen[digest] = (location.line, location.row)
        cut = self._tokens_cut(item)
        if cut > 0:
            report.too_long += 1
            report.tokens_cut += cut
            how = "about " if self.tokenizer is None else ""
            self._problem(
                Problem(
                    location,
                    f"longer than data.sequence_length={self.limit}: {how}{cut} token(s) are cut off. Shorten it, "
                    "or raise data.sequence_length.",
                    severity="warning",
                    code="too_long",
                )
            )
            reasons.append(f"{how}{cut} token(s) cut")
            score -= 0.2
        if isinstance(item, Example) and item.kind == "classification" and item.label is not None:
            self.labels[item.label] += 1
        text_score, text_reasons = quality_of(item)
        score = round(max(0.0, min(1.0, score - (1.0 - text_score))), 4)
        report.usable += 1
        report.quality_total += score
        report.low_quality += score < 0.5
        if self.keep:
            report.examples.append(item)
            report.quality.append(Quality(location, score, tuple(reasons + text_reasons)))
        elif score < 1.0 and self.listed["quality"] < LISTED_PER_CODE:
            self.listed["quality"] += 1
            report.quality.append(Quality(location, score, tuple(reasons + text_reasons)))

    def _problem(self, problem: Problem) -> None:
        """List a per-row finding (all of them, or LISTED_PER_CODE per code when streaming)."""
        self.listed[problem.code] += 1
        if self.keep or self.listed[problem.code] <= LISTED_PER_CODE:
            self.problems.append(problem)
        else:
            self.report.omitted_problems += 1

    def _consistency(self, location: Location, record: dict) -> None:
        keys = frozenset(record)
        if self.reference_keys is None:
            self.reference_keys = keys
        elif keys != self.reference_keys:
            extra = tuple(sorted(keys - self.reference_keys))
            lacking = tuple(sorted(self.reference_keys - keys))
            odd = self.odd_keys[(extra, lacking)]
            if self.keep or len(odd) < LISTED_PER_CODE:
                odd.append(location)
            else:
                self.report.omitted_problems += 1

    def _tokens_cut(self, item: Example | PreferencePair) -> int:
        examples = [item] if isinstance(item, Example) else pair_examples(item)
        longest = 0
        for example in examples:
            if self.tokenizer is not None:
                from gemma_jax.data.tokenize import tokenize_example

                length = len(tokenize_example(example, self.tokenizer, self.loss_on))
            else:
                length = 1 + math.ceil(len(render_text(example)) / CHARS_PER_TOKEN)
            longest = max(longest, length - 1)  # an example of L tokens fills L-1 row positions
        return max(0, longest - self.limit)

    def finish(self) -> None:
        for (extra, lacking), locations in self.odd_keys.items():
            parts = []
            if extra:
                parts.append(f"has column(s) {limits.names_text(extra)} the first row lacks")
            if lacking:
                parts.append(f"lacks column(s) {limits.names_text(lacking)} the first row has")
            numbers = tuple(n for loc in locations if (n := loc.line if loc.line is not None else loc.row) is not None)
            self.problems.append(
                Problem(
                    locations[0],
                    "this row " + " and ".join(parts) + "; every row should have the same columns.",
                    severity="warning",
                    code="columns",
                    lines=numbers,
                )
            )
        self._balance()

    def _balance(self) -> None:
        if not self.labels:
            return
        self.report.label_counts = dict(self.labels.most_common())
        file = self.report.file
        column = self.columns.get("label")
        (top, most), *rest = self.labels.most_common()
        if not rest:
            self.problems.append(
                Problem(
                    Location(file, column=column),
                    f"every row has the label {top!r}; a classifier needs at least two labels.",
                    severity="warning",
                    code="balance",
                )
            )
            return
        for label, count in rest:
            if count < MINOR_CLASS_RATIO * most or count == 1:
                self.problems.append(
                    Problem(
                        Location(file, column=column),
                        f"label {label!r} has only {count} row(s) against {most} for {top!r}; the model will "
                        "rarely predict it. Add examples of it, or use a stratified split.",
                        severity="warning",
                        code="balance",
                    )
                )


def quality_of(item: Example | PreferencePair) -> tuple[float, list[str]]:
    """A 0-1 score from the text alone, with a reason for every deduction."""
    if isinstance(item, PreferencePair):
        prompt = " ".join(t.text for t in item.prompt if t.role == "user")
        answers = [item.chosen, item.rejected]
    else:
        prompt = item.prompt
        answers = [item.response]
    score, reasons = 1.0, []

    def deduct(amount: float, reason: str) -> None:
        nonlocal score
        score -= amount
        reasons.append(reason)

    main = answers[0]
    if len(main.strip()) < 3 and (not isinstance(item, Example) or item.kind != "classification"):
        deduct(0.3, f"the reply is very short ({len(main.strip())} characters)")
    if prompt and main.strip() == prompt.strip():
        deduct(0.4, "the reply repeats the prompt")
    everything = prompt + "\n" + "\n".join(answers)
    if "\ufffd" in everything:
        deduct(0.3, "contains unreadable characters (U+FFFD), often from a wrong encoding")
    if _CONTROL.search(everything):
        deduct(0.2, "contains control characters")
    if _HTML.search(everything):
        deduct(0.1, "contains HTML markup")
    if _RUN.search(everything) or _REPEATED_WORD.search(everything):
        deduct(0.2, "contains long repetitions")
    if any(token in everything for token in _GEMMA_TOKENS):
        deduct(0.2, "contains Gemma control tokens such as <start_of_turn> as plain text")
    letters = sum(ch.isalnum() for ch in everything)
    if len(everything) > 20 and letters / len(everything) < 0.3:
        deduct(0.2, "mostly symbols, little text")
    return max(0.0, round(score, 4)), reasons


def _digest(item: Example | PreferencePair) -> int:
    if isinstance(item, PreferencePair):
        parts = [t.role + "\x1f" + t.text for t in item.prompt] + [item.chosen, item.rejected]
    else:
        parts = [t.role + "\x1f" + t.text for t in item.turns] + [item.kind]
    digest = hashlib.blake2b("\x1e".join(parts).encode("utf-8", "surrogatepass"), digest_size=8).digest()
    return int.from_bytes(digest, "little")


def _is_empty(value: object) -> bool:
    if value is None:
        return True
    if isinstance(value, float) and math.isnan(value):
        return True
    if isinstance(value, str):
        return not value.strip() or value.strip().lower() == "nan"
    if isinstance(value, (list, tuple)):
        return not value
    return False
