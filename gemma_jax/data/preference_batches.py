"""Preference pairs (prompt, chosen, rejected) as packed, checkpointable DPO batches.

DPO compares the summed log-probability of the chosen and the rejected response
to the same prompt, so a pair is packed as one unit: its chosen sequence and then
its rejected sequence sit next to each other in one row, as segments 2k-1 and 2k
for the row's k-th pair. Both are ordinary packed segments (block-diagonal mask,
positions from 0), loss flags are on the final response only, and a pair never
straddles rows, hence never straddles a loss group or a device.

Besides the usual row arrays each batch carries `loss_pair [G, C]`: for every
gathered loss position, the slot `2 * pair + side` (side 0 chosen, 1 rejected)
among its group's `2 * pair_slots` slots, so the step turns per-token log-probs
into per-sequence sums with one segment sum; and `pair_valid [G, pair_slots]`,
which slots hold a pair. `pair_slots` is static (rows per group × the most pairs
a row can ever hold), so the jitted step never recompiles.

The iterator is a `BatchIterator` whose "examples" are pairs: planning,
shuffling, batch slicing, loss capacity and the checkpointable position
`{epoch, step_in_epoch}` are the SFT iterator's own; only packing differs.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from gemma_jax.data.batches import BatchIterator
from gemma_jax.data.errors import DataError
from gemma_jax.data.example import Example
from gemma_jax.data.packing import PackedRows, assign_rows, occupied_positions
from gemma_jax.data.preference_pair import PreferencePair, pair_examples
from gemma_jax.data.tokenize import TokenizedExample, Tokenizer, tokenize_example

__all__ = [
    "PreferenceBatchIterator",
    "pair_examples",
    "tokenize_pairs",
]


@dataclass
class TokenizedPair:
    """Chosen and rejected token sequences of one pair, cut so that both fit one row together.

    To the BatchIterator's planning it looks like one example of `positions + 1` tokens whose
    loss tokens are both responses' (that is all `len` and `loss` are used for there).
    """

    chosen: TokenizedExample
    rejected: TokenizedExample
    truncated: bool = False
    positions: int = 0  # row positions the pair occupies; 0 = unusable (a response cut away entirely)
    loss: np.ndarray = field(default_factory=lambda: np.zeros(0, bool))

    def __len__(self) -> int:
        return self.positions + 1 if self.positions else 0


def _response_only(example: Example, tokenizer: Tokenizer) -> TokenizedExample:
    """Chat-template tokens with loss on the final reply only (model turns inside the prompt are context)."""
    tokens = tokenize_example(example, tokenizer, "response")
    prompt_length = len(tokenize_example(Example(example.turns[:-1]), tokenizer, "response"))
    tokens.loss[:prompt_length] = False  # segments are encoded one by one, so the prefix is identical
    return tokens


def _cut(tokens: TokenizedExample, positions: int) -> TokenizedExample:
    return TokenizedExample(tokens.ids[: positions + 1], tokens.loss[: positions + 1])


def fit_pair(chosen: TokenizedExample, rejected: TokenizedExample, sequence_length: int) -> TokenizedPair:
    """Cut the longer sequence first (on the right) until both fit `sequence_length` positions."""
    seq = sequence_length
    used_c, used_r = occupied_positions(len(chosen), seq), occupied_positions(len(rejected), seq)
    truncated = len(chosen) > seq + 1 or len(rejected) > seq + 1 or used_c + used_r > seq
    if used_c + used_r > seq:
        half = seq // 2
        if min(used_c, used_r) <= half:
            used_c, used_r = (used_c, seq - used_c) if used_c <= used_r else (seq - used_r, used_r)
        else:
            used_c, used_r = half, seq - half
    chosen, rejected = _cut(chosen, used_c), _cut(rejected, used_r)
    usable = chosen.loss[1:].any() and rejected.loss[1:].any()
    positions = used_c + used_r if usable else 0
    loss = np.concatenate([[False], chosen.loss[1:], rejected.loss[1:]]) if usable else np.zeros(0, bool)
    return TokenizedPair(chosen, rejected, truncated, positions, loss)


def tokenize_pairs(pairs: list[PreferencePair], tokenizer: Tokenizer, sequence_length: int) -> list[TokenizedPair]:
    out = []
    for pair in pairs:
        chosen, rejected = pair_examples(pair)
        out.append(fit_pair(_response_only(chosen, tokenizer), _response_only(rejected, tokenizer), sequence_length))
    return out


def most_pairs_per_row(pairs: list[TokenizedPair], sequence_length: int) -> int:
    """An upper bound on the pairs any packing puts in one row: the most of the smallest that fit."""
    sizes = np.sort([p.positions for p in pairs if p.positions])
    return max(1, int((np.cumsum(sizes) <= sequence_length).sum()))


def pack_pairs(pairs: list[TokenizedPair], sequence_length: int, packing: bool = True) -> PackedRows:
    """Pack usable pairs (in the given order) by first-fit; `example_ids` [R, pairs per row] are pair indices."""
    seq = sequence_length
    kept = [i for i, p in enumerate(pairs) if p.positions]
    rows = assign_rows([pairs[i].positions for i in kept], seq, packing)
    num_rows = max(rows) + 1 if rows else 0
    fill, count = [0] * num_rows, [0] * num_rows
    sequences, starts, seq_rows, segments, ranks = [], [], [], [], []
    for i, row in zip(kept, rows):
        count[row] += 1
        ranks.append(count[row])
        for side, tokens in enumerate((pairs[i].chosen, pairs[i].rejected)):
            sequences.append(tokens)
            starts.append(row * seq + fill[row])
            seq_rows.append(row)
            segments.append(2 * count[row] - 1 + side)
            fill[row] += len(tokens) - 1

    lengths = np.asarray([len(t) - 1 for t in sequences], np.int64)
    within = np.arange(lengths.sum()) - np.repeat(np.cumsum(lengths) - lengths, lengths)
    flat = np.repeat(np.asarray(starts, np.int64), lengths) + within

    def scatter(parts: list[np.ndarray], dtype) -> np.ndarray:
        out = np.zeros(num_rows * seq, dtype)
        if parts:
            out[flat] = np.concatenate(parts)
        return out.reshape(num_rows, seq)

    example_ids = np.full((num_rows, max(count, default=1) or 1), -1, np.int32)
    example_ids[np.asarray(rows, np.int64), np.asarray(ranks, np.int64) - 1] = kept
    return PackedRows(
        token_ids=scatter([t.ids[:-1] for t in sequences], np.int32),
        targets=scatter([t.ids[1:] for t in sequences], np.int32),
        loss_mask=scatter([t.loss[1:] for t in sequences], bool),
        segment_ids=scatter([np.full(n, s, np.int32) for n, s in zip(lengths, segments)], np.int32),
        positions=scatter([within], np.int32),
        example_ids=example_ids,
        truncated=sum(pairs[i].truncated for i in kept),
        skipped=len(pairs) - len(kept),
    )


class PreferenceBatchIterator(BatchIterator):
    """BatchIterator over pairs; batches add `loss_pair [G, C]`, `pair_valid [G, P]` and `num_pairs`."""

    def __init__(self, pairs: list[TokenizedPair], *, pair_slots_per_row: int | None = None, **kwargs):
        if not any(p.positions for p in pairs):
            raise DataError(
                "No preference pair has a non-empty chosen and rejected response within "
                f"data.sequence_length={kwargs.get('sequence_length')} tokens; raise data.sequence_length "
                "or shorten the prompts."
            )
        super().__init__(pairs, **kwargs)
        self.truncated = sum(p.truncated for p in pairs if p.positions)
        self.skipped = sum(1 for p in pairs if not p.positions)
        self.pairs_per_row = pair_slots_per_row or most_pairs_per_row(pairs, self.sequence_length)

    @property
    def pair_slots(self) -> int:
        """Pair slots per loss group (static)."""
        return self.batch_size // self.loss_groups * self.pairs_per_row

    def _pack(self, examples: list) -> PackedRows:
        return pack_pairs(examples, self.sequence_length, self.packing)

    def batch_at(self, epoch: int, step: int) -> dict:
        batch = super().batch_at(epoch, step)
        batch["loss_pair"] = self.loss_pairs(batch["segment_ids"], batch["loss_index"], batch["loss_valid"])
        batch["pair_valid"] = self.pair_valid(batch["loss_pair"], batch["loss_valid"])
        batch["num_pairs"] = int(batch["pair_valid"].sum())
        return batch

    def loss_pairs(self, segment_ids: np.ndarray, loss_index: np.ndarray, loss_valid: np.ndarray) -> np.ndarray:
        """Slot `2 * (row_in_group * pairs_per_row + rank) + side` of each gathered loss position."""
        groups = self.loss_groups
        segments = segment_ids.reshape(groups, -1)
        segment = np.take_along_axis(segments, loss_index, axis=1).astype(np.int64)
        row_in_group = loss_index // self.sequence_length
        rank, side = (segment - 1) // 2, (segment - 1) % 2
        slot = 2 * (row_in_group * self.pairs_per_row + rank) + side
        if (loss_valid & ((rank >= self.pairs_per_row) | (segment < 1))).any():  # cannot happen: see most_pairs_per_row
            raise AssertionError("a row holds more pairs than its static slot count")
        return np.where(loss_valid, slot, 0).astype(np.int32)

    def pair_valid(self, loss_pair: np.ndarray, loss_valid: np.ndarray) -> np.ndarray:
        """[G, pair_slots] bool: the slot holds a pair with loss tokens on both sides. Its static
        shape is also how the step learns the slot count."""
        present = np.zeros((self.loss_groups, 2 * self.pair_slots), bool)
        for g in range(self.loss_groups):
            present[g, loss_pair[g][loss_valid[g]]] = True
        return present.reshape(self.loss_groups, self.pair_slots, 2).all(axis=-1)

    def shapes(self) -> dict[str, tuple[int, ...]]:
        out = super().shapes()
        out["loss_pair"] = (self.loss_groups, self.loss_capacity)
        out["pair_valid"] = (self.loss_groups, self.pair_slots)
        return out
