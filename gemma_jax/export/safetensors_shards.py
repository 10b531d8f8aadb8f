"""Write named tensors as Hugging Face safetensors: one `model.safetensors`, or shards and an index.

The layout transformers itself saves (`save_pretrained(max_shard_size=...)`):
shards `model-00001-of-0000N.safetensors` filled in order up to the size
limit (a tensor larger than the limit gets a shard of its own) and
`model.safetensors.index.json` mapping every tensor to its shard. Each tensor
is produced by a callable only when its shard is written, so at most one
shard of converted weights is held at a time.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import ml_dtypes
import numpy as np
from safetensors.numpy import save_file

WEIGHTS_NAME = "model.safetensors"
INDEX_NAME = "model.safetensors.index.json"
DEFAULT_MAX_SHARD_SIZE = "2GB"  # what Keras-Hub and transformers' push_to_hub default to nowadays
NUMPY_DTYPES = {"float32": np.dtype(np.float32), "bfloat16": np.dtype(ml_dtypes.bfloat16)}
_UNITS = {"": 1, "B": 1, "KB": 10**3, "MB": 10**6, "GB": 10**9, "TB": 10**12, "KIB": 2**10, "MIB": 2**20, "GIB": 2**30}


@dataclass(frozen=True)
class PlannedTensor:
    """A tensor to write: its name, shape and how to compute it (any float dtype; cast on writing)."""

    name: str
    shape: tuple[int, ...]
    value: Callable[[], np.ndarray]


def parse_size(size: int | str) -> int:
    """Bytes of `size`: an int, or a string like "2GB", "500MB", "1GiB" (GB = 10^9, GiB = 2^30, as HF reads them)."""
    if isinstance(size, int):
        return size
    match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([KMGT]I?B|B)?\s*", size.upper())
    if not match:
        raise ValueError(f"cannot read the shard size {size!r}; write it like 2GB, 500MB or 1GiB")
    return int(float(match.group(1)) * _UNITS[match.group(2) or ""])


def _shards(tensors: Sequence[PlannedTensor], itemsize: int, limit: int) -> list[list[PlannedTensor]]:
    shards: list[list[PlannedTensor]] = [[]]
    filled = 0
    for tensor in tensors:
        size = int(np.prod(tensor.shape)) * itemsize
        if shards[-1] and filled + size > limit:
            shards.append([])
            filled = 0
        shards[-1].append(tensor)
        filled += size
    return shards


def write_safetensors(
    tensors: Sequence[PlannedTensor], folder: Path, dtype: str, max_shard_size: int | str = DEFAULT_MAX_SHARD_SIZE
) -> list[str]:
    """Write `tensors` cast to `dtype` (float32 or bfloat16) into `folder`; returns the file names written."""
    if dtype not in NUMPY_DTYPES:
        raise ValueError(f"unsupported dtype {dtype!r}; use one of {', '.join(NUMPY_DTYPES)}")
    target = NUMPY_DTYPES[dtype]
    names = [tensor.name for tensor in tensors]
    if len(set(names)) != len(names):
        raise ValueError("two tensors share a name")
    shards = _shards(tensors, target.itemsize, parse_size(max_shard_size))
    folder.mkdir(parents=True, exist_ok=True)
    files = (
        [WEIGHTS_NAME]
        if len(shards) == 1
        else [f"model-{i + 1:05d}-of-{len(shards):05d}.safetensors" for i in range(len(shards))]
    )
    weight_map, total = {}, 0
    for file, shard in zip(files, shards):
        arrays = {}
        for tensor in shard:
            value = np.ascontiguousarray(np.asarray(tensor.value()).astype(target))
            if tuple(value.shape) != tuple(tensor.shape):
                raise ValueError(f"{tensor.name}: planned shape {tensor.shape}, computed {value.shape}")
            arrays[tensor.name] = value
            weight_map[tensor.name] = file
            total += value.nbytes
        save_file(arrays, str(folder / file), metadata={"format": "pt"})
        del arrays
    if len(shards) > 1:
        index = {"metadata": {"total_size": total}, "weight_map": weight_map}
        (folder / INDEX_NAME).write_text(json.dumps(index, indent=2) + "\n", encoding="utf-8")
        files.append(INDEX_NAME)
    return files
