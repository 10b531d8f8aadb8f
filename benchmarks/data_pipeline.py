"""Data pipeline throughput on this CPU: read → validate → template → tokenize → pack.

A seeded 100k-row prompt/response JSONL (word counts drawn so some rows exceed the sequence
length) goes through each stage with the real Gemma 3 tokenizer (262k pieces, from the
embedded model's cached preset), timed stage by stage, then through `build_datasets` end to
end. Peak RSS is sampled while the stages run. The figure that matters is the comparison with
training: pipeline tokens/s against the training tokens/s of the same model (pass
`--train-tokens-per-s`, e.g. `train_tokens_per_s` from benchmarks/real_model.py).

`--big-gb 1` adds the bounded-memory check: a 1 GB JSONL is validated by `build_report` with
`keep_examples=False` and the tokenizer (so every row is read, templated and tokenized, one at a
time from the streaming reader), with the peak RSS of that phase.

    python benchmarks/data_pipeline.py [--rows 100000] [--big-gb 1] [--train-tokens-per-s 137]

The last stdout line is one JSON object: examples_per_s, tokens_per_s, peak_rss_gb, per-stage
figures, and (with --big-gb) big_file_gb, big_rows, big_seconds, big_peak_rss_gb.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import psutil

sys.path.insert(0, str(Path(__file__).resolve().parent))
os.environ.setdefault("KERAS_BACKEND", "jax")

from peak_rss import GB, RssSampler

from gemma_jax.config import JobConfig
from gemma_jax.data import BatchIterator, build_datasets, build_report, read_examples, tokenize_examples
from gemma_jax.models.gguf.gemma3_import import embedded_gemma3_270m_preset
from gemma_jax.models.tokenizer import GemmaTextTokenizer

WORDS = [
    "the",
    "sea",
    "ship",
    "captain",
    "treasure",
    "island",
    "map",
    "gold",
    "wind",
    "sail",
    "harbor",
    "storm",
    "crew",
    "deck",
    "anchor",
    "rope",
    "parrot",
    "compass",
    "north",
    "south",
    "east",
    "west",
    "river",
    "mountain",
    "city",
    "king",
    "queen",
    "bread",
    "water",
    "fire",
    "stone",
    "question",
    "answer",
    "because",
    "therefore",
    "however",
    "quickly",
    "slowly",
    "brightly",
    "seven",
    "twelve",
    "hundred",
]


def write_jsonl(path: Path, rows: int | None = None, target_bytes: int | None = None, seed: int = 0) -> int:
    """Seeded prompt/response rows; stops after `rows` rows or once the file has `target_bytes`."""
    rng = np.random.default_rng(seed)
    written = count = 0
    with path.open("w", encoding="utf-8") as handle:
        while (rows is None or count < rows) and (target_bytes is None or written < target_bytes):
            prompt = " ".join(rng.choice(WORDS, size=int(rng.integers(4, 40))))
            response = " ".join(rng.choice(WORDS, size=int(rng.integers(8, 220))))
            line = json.dumps({"prompt": prompt.capitalize() + "?", "response": response.capitalize() + "."}) + "\n"
            handle.write(line)
            written += len(line)
            count += 1
    return count


def timed(name: str, stages: dict, call: Callable):
    start = time.perf_counter()
    result = call()
    stages[name] = round(time.perf_counter() - start, 3)
    print(f"  {name}: {stages[name]:.1f} s", file=sys.stderr, flush=True)
    return result


def one_epoch_tokens(iterator: BatchIterator) -> tuple[int, int]:
    """(non-padding tokens, batches) of one pass."""
    tokens = batches = 0
    for _ in range(iterator.steps_per_epoch):
        batch = next(iterator)
        tokens += int((np.asarray(batch["segment_ids"]) > 0).sum())
        batches += 1
    return tokens, batches


def big_file(directory: Path, gigabytes: float, cfg, tokenizer) -> dict:
    """Validate and tokenize a file of `gigabytes` with bounded memory."""
    path = directory / "big.jsonl"
    rows = write_jsonl(path, target_bytes=int(gigabytes * GB), seed=1)
    size = path.stat().st_size
    print(f"big file: {size / GB:.2f} GB, {rows:,} rows", file=sys.stderr, flush=True)
    baseline = psutil.Process().memory_info().rss
    start = time.perf_counter()
    with RssSampler(interval_s=0.2) as rss:  # with a tokenizer, the report templates and tokenizes every row
        report = build_report(str(path), cfg, tokenizer=tokenizer, keep_examples=False)
    seconds = time.perf_counter() - start
    return {
        "big_file_gb": round(size / GB, 3),
        "big_rows": rows,
        "big_seconds": round(seconds, 1),
        "big_rows_per_s": round(rows / seconds, 1),
        "big_report_usable": report.usable,
        "big_report_too_long": report.too_long,
        "big_peak_rss_gb": round(rss.peak_bytes / GB, 3),
        "big_rss_growth_gb": round((rss.peak_bytes - baseline) / GB, 3),  # above what the process held before
    }


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--sequence-length", type=int, default=256)
    parser.add_argument("--big-gb", type=float, default=0.0, help="also stream a file of this size (GB)")
    parser.add_argument("--train-tokens-per-s", type=float, default=None, help="training tokens/s to compare with")
    args = parser.parse_args(argv)

    proto = (Path(embedded_gemma3_270m_preset()) / "assets" / "tokenizer" / "vocabulary.spm").read_bytes()
    tokenizer = GemmaTextTokenizer(proto)
    with tempfile.TemporaryDirectory() as tmp:
        directory = Path(tmp)
        path = directory / "rows.jsonl"
        write_jsonl(path, rows=args.rows)
        cfg = dataclasses.replace(JobConfig().data, train_path=str(path), sequence_length=args.sequence_length)
        stages: dict[str, float] = {}
        with RssSampler() as rss:
            examples = timed("read", stages, lambda: read_examples(str(path), cfg))
            report = timed("validate", stages, lambda: build_report(str(path), cfg, tokenizer, keep_examples=False))
            tokenized = timed("template_tokenize", stages, lambda: tokenize_examples(examples, tokenizer))
            iterator = BatchIterator(
                tokenized, sequence_length=args.sequence_length, batch_size=8, seed=0, shuffle=True
            )
            tokens, batches = timed("pack", stages, lambda: one_epoch_tokens(iterator))
        staged_s = sum(stages.values())
        end_to_end = timed(
            "build_datasets_end_to_end",
            stages,
            lambda: one_epoch_tokens(build_datasets(cfg, tokenizer, batch_size=8).train),
        )
        result = {
            "rows": len(examples),
            "examples_per_s": round(len(examples) / staged_s, 1),
            "tokens_per_s": round(tokens / staged_s, 1),
            "peak_rss_gb": round(rss.peak_bytes / GB, 3),
            "stage_seconds": stages,
            "stage_examples_per_s": {k: round(len(examples) / v, 1) for k, v in stages.items() if v > 0},
            "packed_tokens": tokens,
            "packed_batches": batches,
            "packing_efficiency": round(tokens / (batches * 8 * args.sequence_length), 4),
            "end_to_end_train_tokens": end_to_end[0],
            "report_too_long": report.too_long,
            "report_duplicates": report.duplicates,
        }
        if args.train_tokens_per_s:
            result["train_tokens_per_s"] = args.train_tokens_per_s
            result["ratio_vs_training"] = round(result["tokens_per_s"] / args.train_tokens_per_s, 1)
        if args.big_gb > 0:
            del examples, tokenized, iterator  # measure the big file without the 100k rows alive
            result.update(big_file(directory, args.big_gb, cfg, tokenizer))
    print(json.dumps(result), flush=True)
    return result


if __name__ == "__main__":
    main()
