"""Text generation with a loaded Gemma: a pure-JAX decoder with a KV cache.

The backbone's weights are re-laid out for decoding (see decoding/weights.py)
and rebuilt only when training has changed them; prompts are prefilled in one
pass and continued token by token inside one compiled loop (decoding/). By
default the decoder keeps the model's own weight dtype (float32 on CPU), so the
result is the model's own output: it matches Keras-Hub's `CausalLM.generate` and
transformers' greedy decoding of the same weights. On CPU, greedy steps of a float32 or bfloat16
model for one prompt read the output head through an int8 shortlist whose candidates are
rescored with their own rows (decoding/shortlist.py): the same tokens, a quarter (half) of the head's bytes. `weights="int8"` (or
bfloat16 for a float32 model) is an explicit, approximate option: faster on CPU,
but it may pick different tokens. `stream` yields the text as it
is decoded, a chunk of tokens at a time, with the same tokens as `generate`.
"""

from __future__ import annotations

import dataclasses
import secrets
from collections.abc import Iterator

import jax
import jax.numpy as jnp
import numpy as np

from gemma_jax.models.decoding.fit import available_bytes, decoding_problem
from gemma_jax.models.decoding.generate_loop import generate_tokens, stream_tokens
from gemma_jax.models.decoding.matrix import WEIGHT_DTYPES
from gemma_jax.models.decoding.result import Generation
from gemma_jax.models.decoding.shortlist import SHORTLIST_DTYPES
from gemma_jax.models.decoding.text_stream import TextDeltas
from gemma_jax.models.decoding.weights import DecoderWeights
from gemma_jax.models.loaded_model import LoadedModel

PROMPT_BUCKET = 16  # prompt blocks are left-padded to a multiple of this, to reuse compilations
NEW_TOKEN_BUCKET = 32  # room for new tokens is allocated in multiples of this
STREAM_CHUNK = 8  # tokens decoded per compiled call while streaming


APPROXIMATE_WEIGHTS = "int8"  # per-channel int8: ~2x faster decoding on CPU, not the model's own output


def default_weight_dtype(backbone) -> str:
    """The model's own weight dtype (float32 or bfloat16), so that default output is the model's own."""
    dtype = str(getattr(backbone.dtype_policy, "variable_dtype", "float32"))
    return dtype if dtype in WEIGHT_DTYPES else "float32"


def _round_up(value: int, multiple: int) -> int:
    return -(-value // multiple) * multiple


class Generator:
    """Continue prompts with a model whose weights may change between calls."""

    def __init__(self, model: LoadedModel, max_length: int = 256, weights: str = "auto", shortlist: bool | None = None):
        """shortlist: greedy steps of one prompt read an int8 copy of a float32 or bfloat16 head and rescore its
        candidates, giving that head's tokens with a quarter (half) of its bytes (decoding/shortlist.py). None: on CPU, where
        decoding is bound by memory; accelerators read the float32 head faster than they shortlist."""
        if weights != "auto" and weights not in WEIGHT_DTYPES:
            raise ValueError(f"unknown weights {weights!r}; use auto or one of {', '.join(WEIGHT_DTYPES)}")
        if max_length < 2:
            raise ValueError(f"max_length must be at least 2 (the prompt's <bos> and one new token), got {max_length}")
        self.model = model
        self.max_length = max_length
        self.weight_dtype = default_weight_dtype(model.backbone) if weights == "auto" else weights
        if shortlist is None:
            shortlist = self.weight_dtype in SHORTLIST_DTYPES and jax.default_backend() == "cpu"
        self.weights = DecoderWeights(model.backbone, self.weight_dtype, shortlist=shortlist)
        self.config = self.weights.config
        if model.tokenizer.vocabulary_size < self.config.vocabulary_size:  # ids past the tokenizer: never chosen
            self.config = dataclasses.replace(self.config, decodable_vocabulary=model.tokenizer.vocabulary_size)
        tokenizer = model.tokenizer
        stops = [tokenizer.eos_id]
        if tokenizer.id_to_piece(tokenizer.end_of_turn_id) == "<end_of_turn>":
            stops.append(tokenizer.end_of_turn_id)
        self.stop_ids = tuple(stops)

    def generate(
        self,
        prompts: list[str],
        max_new_tokens: int = 32,
        temperature: float = 0.0,
        top_k: int | None = 50,
        seed: int | None = None,
        top_p: float | None = None,
    ) -> list[str]:
        """Continuations of `prompts` (already formatted: chat template or raw text)."""
        return [g.text for g in self.generate_ids(prompts, max_new_tokens, temperature, top_k, seed, top_p)]

    def generate_ids(
        self,
        prompts: list[str],
        max_new_tokens: int = 32,
        temperature: float = 0.0,
        top_k: int | None = 50,
        seed: int | None = None,
        top_p: float | None = None,
    ) -> list[Generation]:
        """Token ids and text of each prompt's continuation, up to its first stop token.

        Each prompt gets at most `max_new_tokens` new tokens, and at most
        `max_length` tokens including its <bos> and prompt. temperature 0 is greedy;
        sampling draws from the top_k most likely tokens (None: all) within top_p.
        """
        encoded, _ = self._encode(prompts, max_new_tokens, temperature, top_k, top_p)
        return self.generate_from_ids(encoded, max_new_tokens, temperature, top_k, seed, top_p)

    def generate_from_ids(
        self,
        prompt_ids: list[list[int]],
        max_new_tokens: int = 32,
        temperature: float = 0.0,
        top_k: int | None = 50,
        seed: int | None = None,
        top_p: float | None = None,
    ) -> list[Generation]:
        """generate_ids for prompts already tokenized (each starting with <bos>), e.g. a conversation in the
        chat template whose user text never becomes control tokens (serve/openai/prompts.chat_prompt_ids)."""
        new_tokens = min(max_new_tokens, self.max_length - max(len(ids) for ids in prompt_ids))
        if new_tokens <= 0:
            return [Generation([], "", False) for _ in prompt_ids]
        ids = self.generate_token_ids(prompt_ids, new_tokens, temperature, top_k, seed, top_p=top_p)
        results = []
        for row in ids:
            stop = next((i for i, token in enumerate(row) if token in self.stop_ids), None)
            kept = row if stop is None else row[:stop]
            results.append(Generation(kept, self.model.tokenizer.decode_text(kept).strip(), stop is not None))
        return results

    def stream(
        self,
        prompt: str,
        max_new_tokens: int = 32,
        temperature: float = 0.0,
        top_k: int | None = 50,
        seed: int | None = None,
        top_p: float | None = None,
        chunk: int = STREAM_CHUNK,
    ) -> Iterator[str]:
        """The continuation of one prompt as text pieces, `chunk` tokens at a time; joined, they are
        `generate([prompt], ...)[0]` with the same arguments.

        Text pieces come from TextDeltas (decoding/text_stream.py): multi-byte characters
        split over tokens, and trailing whitespace, wait for the tokens that complete them.
        """
        encoded, new_tokens = self._encode([prompt], max_new_tokens, temperature, top_k, top_p)
        if new_tokens <= 0:
            return
        deltas = TextDeltas(self.model.tokenizer.decode_text)
        for columns in self._stream_columns(encoded, new_tokens, temperature, top_k, seed, top_p, chunk):
            row = [int(t) for t in columns[0] if t >= 0]
            stop = next((i for i, token in enumerate(row) if token in self.stop_ids), None)
            piece = deltas.add(row if stop is None else row[:stop], final=stop is not None)
            if piece:
                yield piece
            if stop is not None:
                return
        piece = deltas.add([], final=True)  # ran out of tokens: what was held back
        if piece:
            yield piece

    def _encode(self, prompts, max_new_tokens, temperature, top_k, top_p) -> tuple[list[list[int]], int]:
        """Each prompt's ids after <bos>, and how many new tokens fit (max_length bounds the longest)."""
        if isinstance(prompts, str) or not prompts:
            raise ValueError("prompts must be a non-empty list of strings")
        if max_new_tokens < 0:
            raise ValueError(f"max_new_tokens must be 0 or more, got {max_new_tokens}")
        if temperature > 0 and top_k is not None and top_k < 1:
            raise ValueError(f"top_k must be at least 1 when sampling, got {top_k}")
        if top_p is not None and not 0 < top_p <= 1:
            raise ValueError(f"top_p must be above 0 and at most 1, got {top_p}")
        tokenizer = self.model.tokenizer
        encoded = [[tokenizer.bos_id, *tokenizer.encode(prompt)] for prompt in prompts]
        return encoded, min(max_new_tokens, self.max_length - max(len(ids) for ids in encoded))

    def generate_token_ids(
        self,
        prompt_ids: list[list[int]],
        max_new_tokens: int,
        temperature: float = 0.0,
        top_k: int | None = 50,
        seed: int | None = None,
        stop_ids: tuple[int, ...] | None = None,
        top_p: float | None = None,
    ) -> list[list[int]]:
        """New token ids per prompt (stop token included), from token ids that already start with <bos>."""
        tokens, count = generate_tokens(
            *self._loop_arguments(prompt_ids, max_new_tokens, temperature, seed, stop_ids),
            **self._loop_options(max_new_tokens, temperature, top_k, top_p),
        )
        tokens = np.asarray(tokens)[:, : int(count)]
        return [[int(t) for t in row if t >= 0] for row in tokens]

    def stream_token_columns(
        self,
        prompt_ids: list[list[int]],
        max_new_tokens: int,
        temperature: float = 0.0,
        top_k: int | None = 50,
        seed: int | None = None,
        top_p: float | None = None,
        chunk: int = STREAM_CHUNK,
    ) -> Iterator[np.ndarray]:
        """New token columns [batch, <= chunk] as each chunk is decoded, from ids that already start with
        <bos> (a row's stop token is kept, -1 after it): the batch decoding the HTTP server drives."""
        return self._stream_columns(prompt_ids, max_new_tokens, temperature, top_k, seed, top_p, chunk)

    def _stream_columns(self, prompt_ids, max_new_tokens, temperature, top_k, seed, top_p, chunk):
        return stream_tokens(
            *self._loop_arguments(prompt_ids, max_new_tokens, temperature, seed, None),
            **self._loop_options(max_new_tokens, temperature, top_k, top_p),
            chunk=chunk,
        )

    def _loop_arguments(self, prompt_ids, max_new_tokens, temperature, seed, stop_ids) -> tuple:
        """The positional arguments of generate_tokens / stream_tokens: left-padded prompt block and settings."""
        slots = _round_up(max(len(ids) for ids in prompt_ids), PROMPT_BUCKET)
        problem = decoding_problem(
            self.config,
            batch=len(prompt_ids),
            prompt_tokens=max(len(ids) for ids in prompt_ids),
            prompt_slots=slots,
            new_slots=_round_up(max_new_tokens, NEW_TOKEN_BUCKET),
            context_length=self.model.context_length,
            free_bytes=available_bytes(),
        )
        if problem:
            raise ValueError(problem)
        block = np.full((len(prompt_ids), slots), self.model.tokenizer.pad_id, np.int32)
        starts = np.array([slots - len(ids) for ids in prompt_ids], np.int32)
        for row, ids in enumerate(prompt_ids):
            block[row, starts[row] :] = ids
        stops = self.stop_ids if stop_ids is None else stop_ids
        key = jax.random.key(secrets.randbits(31) if seed is None else seed)
        return (
            self.weights.current(),
            block,
            starts,
            max_new_tokens,
            jnp.asarray(stops or (-2,), jnp.int32),
            jnp.float32(max(temperature, 1e-6)),
            key,
        )

    def _loop_options(self, max_new_tokens, temperature, top_k, top_p) -> dict:
        """Static settings: cache room, and how many candidates sampling considers (None: greedy)."""
        if temperature <= 0:
            candidates = None
        else:
            candidates = self.config.vocabulary_size if top_k is None else int(top_k)
        return {
            "config": self.config,
            "capacity": _round_up(max_new_tokens, NEW_TOKEN_BUCKET),
            "top_k": candidates,
            "top_p": 1.0 if top_p is None or temperature <= 0 else float(top_p),
        }
