"""ScalarWriter writes TensorBoard scalars that TensorBoard can read back."""

from __future__ import annotations

import struct

import numpy as np
from tensorboardX.proto import event_pb2

from gemma_jax.runs import ScalarWriter


def _scalars(events_dir):
    found = {}
    for path in events_dir.iterdir():
        data = path.read_bytes()
        pos = 0
        while pos < len(data):
            (length,) = struct.unpack("<Q", data[pos : pos + 8])
            event = event_pb2.Event.FromString(data[pos + 12 : pos + 12 + length])
            pos += 12 + length + 4
            for value in event.summary.value:
                found[(value.tag, event.step)] = value.simple_value
    return found


def test_numbers_become_scalars(tmp_path):
    with ScalarWriter(tmp_path) as writer:
        count = writer.write(3, {"step": 3, "loss": 1.5, "lr": np.float32(0.25), "flag": True, "name": "x"})
        writer.write(4, {"loss": 1.0}, prefix="eval/")
        writer.flush()
    assert count == 2
    assert _scalars(tmp_path) == {("loss", 3): 1.5, ("lr", 3): 0.25, ("eval/loss", 4): 1.0}
