"""Generation tokens/s at several batch sizes, ours against transformers' `generate`, on whatever JAX and torch see.

For accelerators first (a GPU: our KV-cache decoder under JAX against transformers on CUDA), and it runs
the same on a CPU. In one process:

1. **ours**: `Generator.generate_token_ids` for a batch of B different chat prompts (left-padded, greedy,
   stop tokens ignored, so every row makes exactly `--new-tokens`). The first call compiles; the figure is
   the best of `--runs` warm calls, prefill included, as B x new tokens / seconds.
2. **transformers**: `AutoModelForCausalLM` built from our backbone's own transformers config
   (`export.transformers_export.hf_config`) and given *the same weights* (`hf_tensors`, the export's own
   name and layout mapping), in the same dtype, on CUDA when torch sees one; `generate(do_sample=False)` on
   the same prompt ids, left-padded with an attention mask, ids the tokenizer cannot write masked out as our
   decoder masks them. A short warm-up, then the best of `--runs`.

The model is any source; the default `random:gemma3_270m` has the real 270M's shape with random weights
(the work per token is the real model's), which is what an accelerator machine without the embedded model
can run. `common_prefix_b{B}` lists, per row, how many leading tokens agree; with bf16 weights and other
kernels they part after a while, so it is reported, not asserted.

    python benchmarks/generate_batches.py --model random:gemma3_270m --dtype bfloat16 --batches 1,8
    python benchmarks/generate_batches.py --model tiny:gemma3 --new-tokens 8 --runs 1     # a dry run

The last stdout line is one JSON object: `ours_tokens_per_s_b{B}`, `transformers_tokens_per_s_b{B}` and
`ratio_vs_transformers_b{B}` for each B, with the platform, device and dtype.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import sys
import time
from collections.abc import Callable

os.environ.setdefault("KERAS_BACKEND", "jax")  # before Keras is first imported
os.environ.setdefault("XLA_PYTHON_CLIENT_PREALLOCATE", "false")  # leave the GPU to torch's phase too

import jax
import numpy as np

from gemma_jax.config import JobConfig
from gemma_jax.data import data_texts, prompt_text
from gemma_jax.export.transformers_export import hf_config, hf_tensors
from gemma_jax.models.generation import Generator
from gemma_jax.models.loaded_model import LoadedModel
from gemma_jax.models.loading import load_model

PROMPTS = (
    "Explain why the sky looks blue.",
    "Give three tips for better sleep.",
    "Translate to French: The cat sleeps on the warm windowsill.",
    "What is 17 times 23? Show your steps.",
    "Write a haiku about autumn leaves.",
    "List the planets of the solar system in order.",
    "Write a short poem about the sea.",
    "What should I pack for a weekend of hiking in the mountains?",
)


def best_of(call: Callable[[], list[list[int]]], runs: int, warm_up: Callable[[], object]) -> tuple[float, float, list]:
    """(first call s, best warm call s, the ids of the last call)."""
    start = time.perf_counter()
    warm_up()
    first = time.perf_counter() - start
    best, ids = float("inf"), []
    for _ in range(runs):
        start = time.perf_counter()
        ids = call()
        best = min(best, time.perf_counter() - start)
    return first, best, ids


def prompt_ids(model: LoadedModel, batch: int) -> list[list[int]]:
    tokenizer = model.tokenizer
    return [[tokenizer.bos_id, *tokenizer.encode(prompt_text(PROMPTS[i % len(PROMPTS)]))] for i in range(batch)]


def ours(model: LoadedModel, batches: list[int], new: int, runs: int) -> dict:
    longest = max(len(ids) for ids in prompt_ids(model, max(batches)))
    generator = Generator(model, max_length=longest + new)
    out = {"weight_dtype": generator.weight_dtype}
    for batch in batches:
        ids = prompt_ids(model, batch)

        def call(ids=ids) -> list[list[int]]:
            return generator.generate_token_ids(ids, new, stop_ids=())

        first, best, tokens = best_of(call, runs, call)
        out[batch] = {"tokens_per_s": batch * new / best, "first_call_s": first, "token_ids": tokens}
        print(f"  ours b{batch}: {batch * new / best:.1f} tok/s (first call {first:.1f} s)", file=sys.stderr)
    return out


def transformers_peer(model: LoadedModel, dtype: str, batches: list[int], new: int, runs: int) -> dict:
    """transformers' greedy generate with our weights, on CUDA when torch sees one."""
    import torch
    import transformers

    torch_dtype = getattr(torch, dtype)
    device = "cuda" if torch.cuda.is_available() else "cpu"
    config = dict(hf_config(model, dtype=dtype))
    config.pop("architectures", None)
    hf = transformers.AutoConfig.for_model(config.pop("model_type"), **config)
    hf._attn_implementation = "sdpa"
    net = transformers.AutoModelForCausalLM.from_config(hf, dtype=torch_dtype)
    state = {
        t.name: torch.from_numpy(np.asarray(t.value(), np.float32)).to(torch_dtype) for t in hf_tensors(model.backbone)
    }
    missing, unexpected = net.load_state_dict(state, strict=False)
    del state
    if unexpected or set(missing) - {"lm_head.weight"}:
        raise RuntimeError(f"weights do not fit transformers' model: missing {missing}, unexpected {unexpected}")
    net.tie_weights()
    net = net.to(device).eval()
    writable = model.tokenizer.vocabulary_size  # ids past the tokenizer are never chosen (as our decoder)

    class Writable(transformers.LogitsProcessor):
        def __call__(self, input_ids, scores):
            scores[:, writable:] = -float("inf")
            return scores

    processors = transformers.LogitsProcessorList([Writable()])
    pad = model.tokenizer.pad_id
    out = {"device": device, "torch_threads": torch.get_num_threads()}
    for batch in batches:
        ids = prompt_ids(model, batch)
        width = max(len(row) for row in ids)
        tokens = torch.tensor([[pad] * (width - len(row)) + row for row in ids], device=device)
        mask = torch.tensor([[0] * (width - len(row)) + [1] * len(row) for row in ids], device=device)

        @torch.no_grad()
        def generate(count: int, tokens=tokens, mask=mask, width=width) -> list[list[int]]:
            result = net.generate(
                input_ids=tokens,
                attention_mask=mask,
                max_new_tokens=count,
                min_new_tokens=count,
                do_sample=False,
                pad_token_id=pad,
                eos_token_id=None,
                logits_processor=processors,
            )
            return result[:, width:].cpu().tolist()  # .cpu() waits for the device

        first, best, generated = best_of(lambda generate=generate: generate(new), runs, lambda g=generate: g(8))
        out[batch] = {"tokens_per_s": batch * new / best, "first_call_s": first, "token_ids": generated}
        print(f"  transformers b{batch}: {batch * new / best:.1f} tok/s on {device}", file=sys.stderr)
    return out


def common_prefix(a: list[int], b: list[int]) -> int:
    return next((i for i, (x, y) in enumerate(zip(a, b)) if x != y), min(len(a), len(b)))


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default="random:gemma3_270m", help="model source (default random:gemma3_270m)")
    parser.add_argument("--dtype", default="bfloat16", choices=["float32", "bfloat16"], help="weights, both sides")
    parser.add_argument("--batches", default="1,8", help="batch sizes, comma-separated (at most 8 prompts differ)")
    parser.add_argument("--new-tokens", type=int, default=128)
    parser.add_argument("--runs", type=int, default=2, help="timed runs per phase after the first call (>= 1)")
    parser.add_argument("--skip-transformers", action="store_true")
    args = parser.parse_args(argv)
    batches = sorted({int(b) for b in args.batches.split(",")})
    if args.runs < 1 or args.new_tokens < 1 or min(batches) < 1:
        parser.error("--runs, --new-tokens and every batch must be at least 1")

    kind = args.model.split(":")[0]
    texts = data_texts(JobConfig().data) if kind in ("tiny", "random") else None
    start = time.perf_counter()
    model = load_model(args.model, dtype=args.dtype, vocab_texts=texts)
    print(f"{args.model} loaded in {time.perf_counter() - start:.1f} s ({args.dtype})", file=sys.stderr)
    mine = ours(model, batches, args.new_tokens, args.runs)
    gc.collect()
    peer = None if args.skip_transformers else transformers_peer(model, args.dtype, batches, args.new_tokens, args.runs)

    device = jax.devices()[0]
    result = {
        "model": args.model,
        "dtype": args.dtype,
        "platform": jax.default_backend(),
        "device_kind": device.device_kind,
        "new_tokens": args.new_tokens,
        "ours_weight_dtype": mine["weight_dtype"],
        "transformers_device": peer and peer["device"],
    }
    for batch in batches:
        result[f"ours_tokens_per_s_b{batch}"] = round(mine[batch]["tokens_per_s"], 2)
        result[f"ours_first_call_s_b{batch}"] = round(mine[batch]["first_call_s"], 2)
        if peer is not None:
            rate = peer[batch]["tokens_per_s"]
            result[f"transformers_tokens_per_s_b{batch}"] = round(rate, 2)
            result[f"ratio_vs_transformers_b{batch}"] = round(mine[batch]["tokens_per_s"] / rate, 2)
            pairs = zip(mine[batch]["token_ids"], peer[batch]["token_ids"])
            result[f"common_prefix_b{batch}"] = [common_prefix(a, b) for a, b in pairs]
    print(json.dumps(result), flush=True)
    return result


if __name__ == "__main__":
    main()
