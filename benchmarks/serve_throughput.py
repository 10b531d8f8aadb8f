"""Throughput of `gemma-jax serve` on the real Gemma 3 270M: one streaming client against 8 at once.

The server runs as a subprocess (`gemma-jax serve gemma3_270m --port 0`), as users run it; clients
use the official `openai` package, stream chat answers (greedy, `--max-tokens` each, usage from
stream_options.include_usage) and count the tokens the server reports.

1. **warm-up**: 1, 2, 4 and 8 requests at once, so every batch shape the timed phases can meet
   (batch sizes are powers of two, prompts of one length bucket, one token-capacity bucket) is
   compiled before any clock starts.
2. **single**: one client streams `--requests` answers one after the other.
3. **concurrent**: 8 clients, each streaming `--requests` answers one after the other.

Single and concurrent phases alternate `--rounds` times (the 2-core machine is shared: load that
comes and goes then weighs on both alike). Aggregate tokens/s = all completion tokens of a kind of
phase / its total wall time. The last stdout line is one
JSON object: `single_stream_tokens_per_s`, `concurrent8_tokens_per_s`, `speedup`, `target`,
`target_met`, plus the server's batch counts.

    python benchmarks/serve_throughput.py                 # 64 tokens, 2 rounds of 2 requests per client
    python benchmarks/serve_throughput.py --model tiny:gemma3 --requests 2
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import openai

ROOT = Path(__file__).parents[1]
TARGET_SPEEDUP = 3.0
CLIENTS = 8
QUESTIONS = [
    "Write a short poem about the sea.",
    "Write a short poem about the moon.",
    "Write a short story about a cat.",
    "Describe a sunrise over the hills.",
    "Explain why the sky looks blue.",
    "Give three tips for better sleep.",
    "Write a short poem about rain.",
    "Describe a busy market at noon.",
]


def start_server(model: str, max_batch: int) -> tuple[subprocess.Popen, str]:
    command = [sys.executable, "-m", "gemma_jax.cli", "serve", model, "--port", "0", "--log-level", "warning"]
    process = subprocess.Popen(
        [*command, "--max-batch", str(max_batch)], cwd=ROOT, stdout=subprocess.PIPE, stderr=sys.stderr, text=True
    )
    line = process.stdout.readline()
    if not line.startswith("serving "):
        process.kill()
        raise SystemExit(f"the server did not start: {line!r}")
    return process, line.split()[1]


def stream_answer(client: openai.OpenAI, model: str, question: str, max_tokens: int) -> int:
    """Completion tokens of one streamed, greedy chat answer."""
    stream = client.chat.completions.create(
        model=model,
        messages=[{"role": "user", "content": question}],
        max_tokens=max_tokens,
        temperature=0,
        stream=True,
        stream_options={"include_usage": True},
    )
    tokens = 0
    for chunk in stream:
        if chunk.usage is not None:
            tokens = chunk.usage.completion_tokens
    return tokens


def run_clients(client, model: str, clients: int, requests: int, max_tokens: int) -> tuple[int, float]:
    """(tokens, seconds): `clients` threads, each streaming `requests` answers in turn."""
    barrier = threading.Barrier(clients)

    def one_client(index: int) -> int:
        barrier.wait()
        return sum(
            stream_answer(client, model, QUESTIONS[(index + r) % len(QUESTIONS)], max_tokens) for r in range(requests)
        )

    start = time.perf_counter()
    with ThreadPoolExecutor(clients) as pool:
        tokens = sum(pool.map(one_client, range(clients)))
    return tokens, time.perf_counter() - start


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default="gemma3_270m")
    parser.add_argument("--max-tokens", type=int, default=64)
    parser.add_argument("--requests", type=int, default=2, help="answers each client streams per phase")
    parser.add_argument("--rounds", type=int, default=2, help="single/concurrent phase pairs, alternating")
    args = parser.parse_args(argv)

    started = time.perf_counter()
    process, url = start_server(args.model, CLIENTS)
    print(f"server up in {time.perf_counter() - started:.1f} s at {url}", file=sys.stderr)
    try:
        client = openai.OpenAI(base_url=url, api_key="unused", max_retries=0, timeout=600)
        model = client.models.list().data[0].id
        started = time.perf_counter()
        for size in (1, 2, 4, CLIENTS):  # compile every batch shape first
            run_clients(client, model, size, 1, args.max_tokens)
        print(f"warm-up (compilation) {time.perf_counter() - started:.1f} s", file=sys.stderr)
        health = url.removesuffix("/v1") + "/health"
        totals = {1: [0, 0.0, 0, 0], CLIENTS: [0, 0.0, 0, 0]}  # tokens, seconds, batches, rows
        for _ in range(args.rounds):
            for clients in (1, CLIENTS):
                before = httpx.get(health).json()
                tokens, seconds = run_clients(client, model, clients, args.requests, args.max_tokens)
                after = httpx.get(health).json()
                total = totals[clients]
                total[0] += tokens
                total[1] += seconds
                total[2] += after["batches"] - before["batches"]
                total[3] += after["rows"] - before["rows"]
    finally:
        process.terminate()
        process.wait(60)
    (single_tokens, single_s, single_batches, _), (many_tokens, many_s, batches, rows) = totals.values()
    single = single_tokens / single_s
    concurrent = many_tokens / many_s
    print(
        f"single: {single_tokens} tokens in {single_s:.1f} s; {CLIENTS} clients: {many_tokens} tokens in {many_s:.1f} s",
        file=sys.stderr,
    )
    result = {
        "model": args.model,
        "max_tokens": args.max_tokens,
        "requests_per_client": args.requests,
        "rounds": args.rounds,
        "cpu_count": os.cpu_count(),
        "single_stream_tokens_per_s": round(single, 2),
        "concurrent8_tokens_per_s": round(concurrent, 2),
        "speedup": round(concurrent / single, 2),
        "target": TARGET_SPEEDUP,
        "target_met": concurrent / single >= TARGET_SPEEDUP,
        "single_batches": single_batches,
        "concurrent8_batches": batches,
        "concurrent8_rows_per_batch": round(rows / max(batches, 1), 2),
    }
    print(json.dumps(result))
    return result


if __name__ == "__main__":
    main()
