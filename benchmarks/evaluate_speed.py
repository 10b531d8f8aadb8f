"""Whole-split evaluation of the real Gemma 3 270M, batched against one example at a time.

The split is the quick start's held-out (validation) pirate examples, built by the training data
pipeline from `configs/quickstart.yaml`. Both phases do what `gemma-jax evaluate` does for one model
on every example: answer it greedily (gemma_jax.evaluate.answers.answer_prompts) and score its
reference answer token by token with the top-5 alternatives (gemma_jax.evaluate.evaluation.
score_references). Phase "batched" uses the evaluation's default batch (16 prompts per decoder call,
shortest first); phase "one_by_one" sends each example alone. Each phase runs once to compile and
then is timed; the answers must be identical (greedy, the model's own output) or the run fails.

    python benchmarks/evaluate_speed.py [--batch-size 16] [--max-examples N] [--weights auto]

Target (issue 14, this 2-core CPU): speedup >= 3. The last stdout line is one JSON object:
`batched_examples_per_s`, `one_by_one_examples_per_s`, `speedup`, and the settings.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("KERAS_BACKEND", "jax")

ROOT = Path(__file__).resolve().parents[1]
TARGET_SPEEDUP = 3.0


def _split(max_examples: int | None):
    from gemma_jax.config import load_config
    from gemma_jax.data import prompt_text
    from gemma_jax.data.pipeline import load_splits
    from gemma_jax.evaluate.evaluation import prompt_and_reference

    cfg = load_config(ROOT / "configs" / "quickstart.yaml")
    _, validation = load_splits(cfg.data)
    pairs = [prompt_and_reference(example) for example in validation]
    pairs = [(prompt_text(p), r) for p, r in pairs if p][:max_examples]
    return [p for p, _ in pairs], [r for _, r in pairs]


def _phase(generator, prompts, references, batch_size: int, max_new_tokens: int) -> tuple[float, list]:
    from gemma_jax.evaluate.answers import answer_prompts
    from gemma_jax.evaluate.evaluation import score_references
    from gemma_jax.evaluate.settings import EvalSettings

    settings = EvalSettings(batch_size=batch_size)
    start = time.perf_counter()
    answers = answer_prompts(generator, prompts, settings, max_new_tokens)
    score_references(generator, prompts, references, batch_size)
    return time.perf_counter() - start, answers


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--max-examples", type=int, default=None)
    parser.add_argument("--weights", default="auto", help="decoder weights (auto: the model's own, as evaluate uses)")
    args = parser.parse_args(argv)

    from gemma_jax.models.generation import Generator
    from gemma_jax.models.loading import EMBEDDED_MODEL, load_model

    prompts, references = _split(args.max_examples)
    model = load_model(EMBEDDED_MODEL)
    generator = Generator(model, max_length=model.context_length, weights=args.weights)
    longest = max(len(model.tokenizer.encode(r)) for r in references)
    max_new_tokens = min(256, longest + 16)  # what evaluate chooses by default
    result = {"examples": len(prompts), "max_new_tokens": max_new_tokens, "weights": generator.weight_dtype}
    answers = {}
    for name, batch in (("batched", args.batch_size), ("one_by_one", 1)):
        _phase(generator, prompts, references, batch, max_new_tokens)  # compile every shape this phase uses
        seconds, answers[name] = _phase(generator, prompts, references, batch, max_new_tokens)
        result[f"{name}_seconds"] = round(seconds, 2)
        result[f"{name}_examples_per_s"] = round(len(prompts) / seconds, 3)
        print(f"{name}: {len(prompts)} examples in {seconds:.1f} s", flush=True)
    if answers["batched"] != answers["one_by_one"]:
        differ = sum(a != b for a, b in zip(answers["batched"], answers["one_by_one"], strict=True))
        raise SystemExit(f"batched answers differ from one-by-one answers on {differ} examples")
    result["answers_identical"] = True
    result["speedup"] = round(result["batched_examples_per_s"] / result["one_by_one_examples_per_s"], 2)
    result["target_speedup"] = TARGET_SPEEDUP
    result["target_met"] = result["speedup"] >= TARGET_SPEEDUP
    print(json.dumps(result), flush=True)
    return result


if __name__ == "__main__":
    sys.exit(0 if main()["target_met"] else 1)
