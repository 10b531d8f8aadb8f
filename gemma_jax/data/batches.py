"""The deterministic, seedable, checkpointable stream of training batches.

Everything is a pure function of (seed, epoch, step): epoch e shuffles with
`default_rng([seed, e])`, packs, and cuts consecutive rows into batches. So the
whole iterator state is two integers, and a restored run sees exactly the batches
it would have seen. All array shapes are fixed at construction (including the
loss-gather capacity) so a jitted train step never recompiles.
"""

from __future__ import annotations

import copy
import math
import numbers
import warnings

import numpy as np

from gemma_jax.data.packing import PackedRows, assign_rows, occupied_positions, pack_rows
from gemma_jax.data.tokenize import TokenizedExample

# Loss capacity is rounded up to this: sublane-aligned for TPU, and every position over the
# most any group needs costs a full output-head row (2 x hidden x 262k FLOPs) in every step.
CAPACITY_MULTIPLE = 8
ROW_KEYS = ("token_ids", "targets", "loss_mask", "segment_ids", "positions")


class BatchIterator:
    """Yields dicts of numpy arrays; see `__next__` for the keys."""

    def __init__(
        self,
        examples: list[TokenizedExample],
        *,
        sequence_length: int,
        batch_size: int,
        seed: int,
        shuffle: bool = True,
        packing: bool = True,
        loss_groups: int = 1,
        num_epochs: int = 1,
        repeat: bool = True,
        loss_capacity: int | None = None,
    ):
        if batch_size < 1 or loss_groups < 1 or batch_size % loss_groups:
            raise ValueError(
                f"batch_size ({batch_size}) must be a positive multiple of loss_groups "
                f"({loss_groups}) so every loss group holds the same number of rows."
            )
        if num_epochs < 1:
            raise ValueError(f"num_epochs must be at least 1; got {num_epochs}.")
        self.examples = list(examples)
        self.sequence_length = int(sequence_length)
        self.batch_size = int(batch_size)
        self.seed = int(seed)
        self.shuffle = shuffle
        self.packing = packing
        self.loss_groups = int(loss_groups)
        self.num_epochs = int(num_epochs)
        self.repeat = repeat
        self.dropped_loss_tokens = 0  # only possible past num_epochs; see _gather
        self._cache: tuple[int, PackedRows] | None = None
        self._steps: dict[int, int] = {}
        seq = self.sequence_length
        self._used = np.array([occupied_positions(len(ex), seq) for ex in self.examples], np.int64)
        self._loss = np.array([int(ex.loss[1 : n + 1].sum()) for ex, n in zip(self.examples, self._used)])
        self.truncated = sum(1 for ex in self.examples if len(ex) > seq + 1)

        most_loss, self.max_segments = 0, 1
        for epoch in range(self.num_epochs):  # plan only (no arrays): how rows and groups will fill
            row_loss, segments = self._plan(epoch)
            most_loss = max(most_loss, int(self._group_sums(row_loss).max(initial=0)))
            self.max_segments = max(self.max_segments, segments)
        if self._steps[0] == 0:
            raise ValueError("No example has at least 2 tokens, so there is nothing to train on.")
        computed = max(CAPACITY_MULTIPLE, -(-most_loss // CAPACITY_MULTIPLE) * CAPACITY_MULTIPLE)
        if loss_capacity is not None and loss_capacity < most_loss:
            raise ValueError(f"loss_capacity {loss_capacity} is below the {most_loss} loss tokens one group needs.")
        self.loss_capacity = int(loss_capacity) if loss_capacity is not None else computed
        self._epoch, self._step = 0, 0

    # ----- progress -------------------------------------------------------------------------
    @property
    def steps_per_epoch(self) -> int:
        """Batches in epoch 0. With packing and shuffling, later epochs can differ by a step or so."""
        return self.steps_in_epoch(0)

    def steps_in_epoch(self, epoch: int) -> int:
        if epoch not in self._steps:
            self._plan(epoch)
        return self._steps[epoch]

    @property
    def total_steps(self) -> int:
        """Exact number of batches in epochs 0..num_epochs-1 (just epoch 0 when repeat=False)."""
        return sum(self.steps_in_epoch(e) for e in range(self.num_epochs if self.repeat else 1))

    @property
    def epoch(self) -> int:
        return self._epoch

    @property
    def epoch_fraction(self) -> float:
        """Progress in epochs: 1.5 means halfway through the second epoch."""
        return self._epoch + self._step / max(self.steps_in_epoch(self._epoch), 1)

    def state(self) -> dict:
        return {"epoch": self._epoch, "step_in_epoch": self._step}

    def restore(self, state: dict) -> None:
        """Continue exactly where the iterator that produced `state` would continue."""
        epoch, step = state.get("epoch"), state.get("step_in_epoch")
        if not isinstance(epoch, numbers.Integral) or not isinstance(step, numbers.Integral) or min(epoch, step) < 0:
            raise ValueError(f"Not a BatchIterator state: {state!r}")
        epoch, step = int(epoch), int(step)
        if step and step >= self.steps_in_epoch(epoch):
            raise ValueError(f"step_in_epoch {step} is past the {self.steps_in_epoch(epoch)} steps of epoch {epoch}.")
        self._epoch, self._step = epoch, step

    def reset(self) -> None:
        self._epoch, self._step = 0, 0

    def fresh(self) -> BatchIterator:
        """An independent iterator at the start, sharing this one's (read-only) packed data."""
        other = copy.copy(self)
        other._steps = dict(self._steps)
        other.reset()
        return other

    # ----- iteration ------------------------------------------------------------------------
    def __iter__(self) -> BatchIterator:
        return self

    def __next__(self) -> dict:
        """token_ids, targets, loss_mask, segment_ids, positions [B,S]; example_ids [B,M];
        loss_index/loss_valid [G,C]; num_loss_tokens, num_tokens (ints)."""
        if not self.repeat and self._epoch >= 1:
            raise StopIteration
        batch = self.batch_at(self._epoch, self._step)
        self._step += 1
        if self._step >= self.steps_in_epoch(self._epoch):
            self._epoch, self._step = self._epoch + 1, 0
        return batch

    def batch_at(self, epoch: int, step: int) -> dict:
        """The batch for (epoch, step), independent of the iterator's position."""
        rows = self.packed(epoch)
        lo = step * self.batch_size
        take = slice(lo, min(lo + self.batch_size, rows.num_rows))
        pad = self.batch_size - (take.stop - take.start)
        batch = {key: _pad_rows(getattr(rows, key)[take], pad, 0) for key in ROW_KEYS}
        ids = _pad_rows(rows.example_ids[take], pad, -1)
        width = max(self.max_segments, ids.shape[1])
        batch["example_ids"] = np.pad(ids, ((0, 0), (0, width - ids.shape[1])), constant_values=-1)
        batch["loss_index"], batch["loss_valid"] = self._gather(batch["loss_mask"])
        batch["num_loss_tokens"] = int(batch["loss_mask"].sum())
        batch["num_tokens"] = int((batch["segment_ids"] > 0).sum())
        return batch

    def shapes(self) -> dict[str, tuple[int, ...]]:
        """Static shapes of the array entries (for building jit signatures up front)."""
        b, s, g = self.batch_size, self.sequence_length, self.loss_groups
        out = {key: (b, s) for key in ROW_KEYS}
        out.update(
            example_ids=(b, self.max_segments),
            loss_index=(g, self.loss_capacity),
            loss_valid=(g, self.loss_capacity),
        )
        return out

    # ----- internals ------------------------------------------------------------------------
    def packed(self, epoch: int) -> PackedRows:
        """Pack epoch `epoch` (one epoch is cached); example_ids become global indices."""
        if self._cache is not None and self._cache[0] == epoch:
            return self._cache[1]
        order = self._order(epoch)
        rows = self._pack([self.examples[i] for i in order])
        rows.example_ids = np.where(rows.example_ids >= 0, order[np.maximum(rows.example_ids, 0)], -1)
        rows.example_ids = rows.example_ids.astype(np.int32)
        self._steps[epoch] = math.ceil(rows.num_rows / self.batch_size)
        self._cache = (epoch, rows)
        return rows

    def _pack(self, examples: list) -> PackedRows:
        """Rows of this epoch's examples in order (the preference iterator packs pairs instead)."""
        return pack_rows(examples, self.sequence_length, self.packing)

    def _order(self, epoch: int) -> np.ndarray:
        n = len(self.examples)
        return np.random.default_rng([self.seed, epoch]).permutation(n) if self.shuffle else np.arange(n)

    def _plan(self, epoch: int) -> tuple[np.ndarray, int]:
        """Loss tokens per row and the most segments in a row, from lengths alone (cheap)."""
        order = self._order(epoch)
        order = order[self._used[order] > 0]
        rows = np.asarray(assign_rows(self._used[order].tolist(), self.sequence_length, self.packing), np.int64)
        num_rows = int(rows.max()) + 1 if rows.size else 0
        self._steps[epoch] = math.ceil(num_rows / self.batch_size)
        segments = int(np.bincount(rows).max()) if rows.size else 1
        return np.bincount(rows, weights=self._loss[order], minlength=num_rows).astype(np.int64), segments

    def _group_sums(self, per_row: np.ndarray) -> np.ndarray:
        """Sum a per-row count over each (batch, loss group) of an epoch."""
        steps = math.ceil(per_row.size / self.batch_size)
        per_row = np.pad(per_row, (0, steps * self.batch_size - per_row.size))
        return per_row.reshape(steps, self.loss_groups, -1).sum(axis=-1)

    def _gather(self, loss_mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Flat indices of loss positions within each group's (B/G)*S positions, padded to capacity.

        Past `num_epochs` a group could exceed the capacity fixed at construction; its
        extra loss positions are then switched off (in loss_mask too, so both agree).
        """
        groups, cap = self.loss_groups, self.loss_capacity
        flat = loss_mask.reshape(groups, -1)
        index = np.zeros((groups, cap), np.int32)
        valid = np.zeros((groups, cap), bool)
        for g in range(groups):
            where = np.flatnonzero(flat[g])
            if where.size > cap:
                warnings.warn(
                    f"Batch group has {where.size} loss tokens but capacity is {cap}; dropping the "
                    "rest. Build the iterator with a larger num_epochs to avoid this.",
                    stacklevel=3,
                )
                self.dropped_loss_tokens += int(where.size - cap)
                flat[g, where[cap:]] = False
                where = where[:cap]
            index[g, : where.size] = where
            valid[g, : where.size] = True
        return index, valid


def _pad_rows(array: np.ndarray, count: int, value: int) -> np.ndarray:
    if count == 0:
        return array.copy()
    return np.pad(array, ((0, count), (0, 0)), constant_values=value)
