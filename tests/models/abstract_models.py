"""Keras models with shaped but unallocated variables, for tests that only need shapes.

`keras.StatelessScope(initialize_variables=False)` defers the variables' initial
values, but Keras remembers them and initializes every deferred variable the next
time any stateless scope closes (every traced training step opens one). Built
from a 4B-parameter shape, that silently allocates 16 GB in a later, unrelated
test. `no_allocation()` forgets the variables it deferred when it closes.
"""

from __future__ import annotations

import contextlib

import keras
import keras_hub
from keras.src.backend.common import global_state

from gemma_jax.models.variant_shape import GemmaShape

_PENDING = "uninitialized_variables"


@contextlib.contextmanager
def no_allocation():
    """Create Keras variables with shapes only; none of them is ever initialized later."""
    before = list(global_state.get_global_attribute(_PENDING, [], set_to_default=True))
    try:
        with keras.StatelessScope(initialize_variables=False):
            yield
    finally:
        global_state.set_global_attribute(_PENDING, before)


def abstract_backbone(shape: GemmaShape, dtype: str = "bfloat16") -> keras.Model:
    """The Keras-Hub backbone of `shape` (vision tower included if it has one), allocating nothing."""
    kwargs = shape.keras_hub_kwargs()
    with no_allocation():
        if shape.backbone == "gemma":
            return keras_hub.models.GemmaBackbone(dtype=dtype, **kwargs)
        vision = None
        if shape.vision_encoder:
            vision = keras_hub.models.Gemma3VisionEncoder(
                image_size=896,
                patch_size=14,
                num_heads=16,
                hidden_dim=1152,
                num_layers=27,
                intermediate_dim=4304,
                output_dim=shape.hidden_dim,
                pool_size=4,
                dtype=dtype,
            )
        return keras_hub.models.Gemma3Backbone(
            dtype=dtype, vision_encoder=vision, text_only_model=vision is None, image_size=896, **kwargs
        )
