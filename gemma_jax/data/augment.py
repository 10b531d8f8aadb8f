"""Augmentation of train examples: EDA word edits and rewrites by the loaded Gemma itself.

- synonym, insert, delete, swap (Wei & Zou's EDA): seeded word-level edits at a rate.
  Synonyms come from `synonyms.py` (a table derived from WordNet, shipped with the
  package, so nothing is downloaded at run time).
- back_translation and paraphrase: the loaded model is prompted through `Generator`
  to translate into a pivot language and back, or to restate the text; no other
  model is downloaded.

Preference pairs are augmented the same way, on their prompt only (data.augment.turns: user):
an edited chosen or rejected reply could change which one is better.

Every copy keeps its original's `source` and gets `augmentation` = "<method>:<copy>",
so it can be told apart from real data. Only train examples may be augmented: the
pipeline augments after splitting, and the splitter refuses augmented examples.
Copies identical to their original, or empty, are skipped and counted.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, TypeVar

import numpy as np

from gemma_jax.data.chat_template import prompt_text
from gemma_jax.data.errors import DataError
from gemma_jax.data.example import Example, Turn
from gemma_jax.data.preference_pair import PreferencePair
from gemma_jax.data.synonyms import STOPWORDS, SynonymSource, default_synonyms

if TYPE_CHECKING:
    from gemma_jax.config.job_config import AugmentConfig
    from gemma_jax.models.loaded_model import LoadedModel

WORD_METHODS = ("synonym", "insert", "delete", "swap")
MODEL_METHODS = ("back_translation", "paraphrase")
METHODS = WORD_METHODS + MODEL_METHODS
TURN_ROLES = {"user": ("user",), "model": ("model",), "all": ("user", "model")}
_WORD = re.compile(r"^(\W*)(.*?)(\W*)$", re.DOTALL)
_ALPHA = re.compile(r"^[A-Za-z][A-Za-z'-]*$")
Item = TypeVar("Item", Example, PreferencePair)


# ----- word-level edits (EDA) -------------------------------------------------------------------
class _Words:
    """A text as (word, separator-after) pairs, so edits keep the text's own spacing and newlines."""

    def __init__(self, text: str):
        parts = re.split(r"(\s+)", text)  # words at even indices (the first and last may be ""), spaces between
        self.lead = parts[1] if len(parts) > 1 and parts[0] == "" else ""
        self.trail = parts[-2] if len(parts) > 1 and parts[-1] == "" else ""
        seps = parts[1::2] + [""]
        self.pairs = [[word, seps[i]] for i, word in enumerate(parts[0::2]) if word]

    def __len__(self) -> int:
        return len(self.pairs)

    def text(self) -> str:
        if not self.pairs:
            return self.lead
        self.pairs[-1][1] = ""
        return self.lead + "".join(w + s for w, s in self.pairs) + self.trail

    @staticmethod
    def split(word: str) -> tuple[str, str, str]:
        """(leading punctuation, core, trailing punctuation)."""
        match = _WORD.match(word)
        return (match.group(1), match.group(2), match.group(3)) if match else ("", word, "")

    def core(self, i: int) -> str:
        return self.split(self.pairs[i][0])[1]

    def set_core(self, i: int, core: str) -> None:
        lead, _, trail = self.split(self.pairs[i][0])
        self.pairs[i][0] = lead + core + trail


def _match_case(word: str, like: str) -> str:
    if like.isupper() and len(like) > 1:
        return word.upper()
    if like[:1].isupper():
        return word[:1].upper() + word[1:]
    return word


def _count(rate: float, n: int) -> int:
    return max(1, round(rate * n)) if rate > 0 and n else 0


def _replaceable(words: _Words, synonyms: SynonymSource) -> list[int]:
    return [
        i
        for i in range(len(words))
        if _ALPHA.match(words.core(i)) and words.core(i).lower() not in STOPWORDS and synonyms(words.core(i))
    ]


def synonym_replacement(text: str, rate: float, rng: np.random.Generator, synonyms: SynonymSource) -> str:
    """Replace round(rate * words) (at least one) non-stopwords with a random synonym."""
    words = _Words(text)
    candidates = _replaceable(words, synonyms)
    for i in rng.permutation(candidates)[: _count(rate, len(words))].tolist():
        core = words.core(i)
        options = synonyms(core)
        words.set_core(i, _match_case(options[int(rng.integers(len(options)))], core))
    return words.text()


def random_insertion(text: str, rate: float, rng: np.random.Generator, synonyms: SynonymSource) -> str:
    """Insert a synonym of a random word at a random place, round(rate * words) times (at least once)."""
    words = _Words(text)
    candidates = _replaceable(words, synonyms)
    if not candidates:
        return text
    for _ in range(_count(rate, len(words))):
        source = words.core(candidates[int(rng.integers(len(candidates)))])
        options = synonyms(source)
        new = options[int(rng.integers(len(options)))].lower()
        at = int(rng.integers(len(words) + 1))
        if at == len(words):
            words.pairs[-1][1] = words.pairs[-1][1] or " "
        words.pairs.insert(at, [new, " "])
    return words.text()


def random_deletion(text: str, rate: float, rng: np.random.Generator) -> str:
    """Delete each word with probability `rate`; one word always stays."""
    words = _Words(text)
    if len(words) <= 1 or rate <= 0:
        return text
    keep = rng.random(len(words)) >= rate
    if not keep.any():
        keep[int(rng.integers(len(words)))] = True
    words.pairs = [pair for pair, k in zip(words.pairs, keep) if k]
    return words.text()


def random_swap(text: str, rate: float, rng: np.random.Generator) -> str:
    """Swap two random words, round(rate * words) times (at least once); punctuation stays in place."""
    words = _Words(text)
    if len(words) < 2:
        return text
    for _ in range(_count(rate, len(words))):
        i, j = rng.choice(len(words), size=2, replace=False).tolist()
        a, b = words.core(i), words.core(j)
        words.set_core(i, b)
        words.set_core(j, a)
    return words.text()


# ----- rewrites by the loaded model -------------------------------------------------------------
PARAPHRASE_PROMPT = (
    "Rewrite the following text in different words, keeping its meaning and language. "
    "Reply with the rewritten text only.\n\n{text}"
)
TRANSLATE_PROMPT = "Translate the following text into {language}. Reply with the translation only.\n\n{text}"


class ModelRewriter:
    """Rewrites texts with the loaded Gemma through `Generator` (batched; too-long texts are skipped)."""

    def __init__(
        self,
        model: LoadedModel,
        *,
        max_new_tokens: int = 128,
        temperature: float = 0.7,
        seed: int = 0,
        batch_size: int = 8,
        max_length: int = 2048,
    ):
        from gemma_jax.models.generation import Generator

        self.tokenizer = model.tokenizer
        self.max_length = min(int(model.context_length or max_length), max_length)
        self.generator = Generator(model, max_length=self.max_length)
        self.max_new_tokens = max_new_tokens
        self.temperature = temperature
        self.seed = seed
        self.batch_size = batch_size
        self._calls = 0

    def complete(self, instructions: Sequence[str]) -> list[str | None]:
        """The model's reply to each instruction (as a user turn); None where the prompt is too long."""
        prompts = [prompt_text(text) for text in instructions]
        lengths = [len(self.tokenizer.encode(p)) + 1 for p in prompts]
        room = self.max_length - self.max_new_tokens
        order = sorted((i for i, n in enumerate(lengths) if n <= room), key=lambda i: lengths[i])
        out: list[str | None] = [None] * len(prompts)
        for start in range(0, len(order), self.batch_size):
            chunk = order[start : start + self.batch_size]
            self._calls += 1
            replies = self.generator.generate(
                [prompts[i] for i in chunk],
                max_new_tokens=self.max_new_tokens,
                temperature=self.temperature,
                seed=int(np.random.default_rng([self.seed, self._calls]).integers(2**31)),
            )
            for i, reply in zip(chunk, replies):
                out[i] = reply.strip()
        return out

    def paraphrase(self, texts: Sequence[str]) -> list[str | None]:
        return self.complete([PARAPHRASE_PROMPT.format(text=t) for t in texts])

    def back_translate(self, texts: Sequence[str], pivot: str, source_language: str) -> list[str | None]:
        there = self.complete([TRANSLATE_PROMPT.format(language=pivot, text=t) for t in texts])
        kept = [i for i, t in enumerate(there) if t]
        back = self.complete([TRANSLATE_PROMPT.format(language=source_language, text=there[i]) for i in kept])
        out: list[str | None] = [None] * len(texts)
        for i, text in zip(kept, back):
            out[i] = text
        return out


# ----- putting it together ----------------------------------------------------------------------
@dataclass
class AugmentReport:
    """Per method: copies made and copies skipped (unchanged, empty, or too long for the model)."""

    originals: int = 0
    created: dict[str, int] = field(default_factory=dict)
    skipped: dict[str, int] = field(default_factory=dict)

    @property
    def total(self) -> int:
        return sum(self.created.values())

    def to_dict(self) -> dict:
        return {
            "originals": self.originals,
            "created": dict(self.created),
            "skipped": dict(self.skipped),
            "total": self.total,
        }


def check_methods(methods: Sequence[str], model: LoadedModel | None) -> None:
    unknown = [m for m in methods if m not in METHODS]
    if unknown:
        raise DataError(f"Unknown data.augment.methods {unknown}; use any of {', '.join(METHODS)}.")
    needs_model = [m for m in methods if m in MODEL_METHODS]
    if needs_model and model is None:
        raise DataError(
            f"data.augment.methods {needs_model} use the loaded model to rewrite examples, but no model was "
            "given; pass model= to build_datasets (or augment_examples), or remove these methods."
        )


def _word_edit(method: str, cfg: AugmentConfig, synonyms: SynonymSource) -> Callable[[str, np.random.Generator], str]:
    if method == "synonym":
        return lambda text, rng: synonym_replacement(text, cfg.synonym_rate, rng, synonyms)
    if method == "insert":
        return lambda text, rng: random_insertion(text, cfg.insert_rate, rng, synonyms)
    if method == "delete":
        return lambda text, rng: random_deletion(text, cfg.delete_rate, rng)
    return lambda text, rng: random_swap(text, cfg.swap_rate, rng)


def _with_texts(example: Item, roles: tuple[str, ...], texts: list[str], tag: str) -> Item:
    """`example` with the texts of its turns in `roles` replaced in order, marked as augmented."""
    it = iter(texts)
    turns = tuple(Turn(t.role, next(it)) if t.role in roles else t for t in example.turns)
    return example.with_turns(turns, augmentation=tag)


def augment_examples(
    examples: Sequence[Item],
    cfg: AugmentConfig,
    *,
    seed: int = 0,
    model: LoadedModel | None = None,
    synonyms: SynonymSource | None = None,
) -> tuple[list[Item], AugmentReport]:
    """New, marked copies of `examples` or preference pairs (the originals are not included), and
    what was made. Pairs change in their prompt's user turns only."""
    methods = list(cfg.methods)
    check_methods(methods, model)
    if cfg.turns not in TURN_ROLES:
        raise DataError(f"data.augment.turns must be user, model or all; got {cfg.turns!r}.")
    if cfg.turns != "user" and methods and any(isinstance(ex, PreferencePair) for ex in examples):
        raise DataError(
            f"Preference pairs are augmented on their prompt only; data.augment.turns is {cfg.turns!r}. "
            "Set it to user: an edited chosen or rejected reply could change which one is better."
        )
    roles = TURN_ROLES[cfg.turns]
    report = AugmentReport(originals=len(examples))
    if not methods or not examples:
        return [], report
    if any(ex.augmentation for ex in examples):
        raise DataError("Augmented examples cannot be augmented again; give only original train examples.")
    synonyms = synonyms or (default_synonyms() if {"synonym", "insert"} & set(methods) else None)
    rewriter = None
    if set(methods) & set(MODEL_METHODS):
        rewriter = ModelRewriter(model, max_new_tokens=cfg.max_new_tokens, temperature=cfg.temperature, seed=seed)
    made: dict[tuple[int, int, int], Item] = {}  # (example, method, copy) -> copy, for a stable order
    for m, method in enumerate(methods):
        report.created[method], report.skipped[method] = 0, 0
        for copy in range(cfg.copies):
            tag = f"{method}:{copy}"
            texts = [[t.text for t in ex.turns if t.role in roles] for ex in examples]
            if method in WORD_METHODS:
                edit = _word_edit(method, cfg, synonyms)
                new = []
                for e, turn_texts in enumerate(texts):
                    rng = np.random.default_rng([seed, e, m, copy])
                    new.append([edit(text, rng) for text in turn_texts])
            else:
                new = _rewrite_all(rewriter, method, cfg, texts)
            for e, (old, fresh) in enumerate(zip(texts, new)):
                if fresh is None or fresh == old or any(not t.strip() for t, o in zip(fresh, old) if o.strip()):
                    report.skipped[method] += 1
                    continue
                made[(e, m, copy)] = _with_texts(examples[e], roles, fresh, tag)
                report.created[method] += 1
    return [made[key] for key in sorted(made)], report


def _rewrite_all(
    rewriter: ModelRewriter, method: str, cfg: AugmentConfig, texts: list[list[str]]
) -> list[list[str] | None]:
    """Rewrite every non-empty turn text of every example in one batched pass; None where a turn failed."""
    flat = [text for turn_texts in texts for text in turn_texts if text.strip()]
    if method == "paraphrase":
        rewritten = iter(rewriter.paraphrase(flat))
    else:
        rewritten = iter(rewriter.back_translate(flat, cfg.pivot_language, cfg.source_language))
    out: list[list[str] | None] = []
    for turn_texts in texts:
        part = [next(rewritten) if text.strip() else text for text in turn_texts]
        out.append(None if any(p is None for p in part) else [str(p) for p in part])
    return out
