"""A Gemma decoder's hyper-parameters, and the sizes that follow from them.

Parameter counts, LoRA adapter sizes and the memory estimate are all computed
from these numbers, so one table of shapes (models/registry.py) answers
"how big is it" without downloading or building anything. Importing this module
imports neither JAX nor Keras.
"""

from __future__ import annotations

from dataclasses import dataclass

# Gemma 3's SigLIP vision tower (4B, 12B, 27B multimodal presets): 896 px images in 14 px patches.
_VISION_WIDTH = 1152
_VISION_LAYERS = 27
_VISION_MLP = 4304
_VISION_PATCHES = (896 // 14) ** 2
_VISION_PATCH_INPUTS = 14 * 14 * 3


@dataclass(frozen=True)
class GemmaShape:
    """Everything about a Gemma decoder that decides its size.

    `ffn_dim` is the width of each of the two gated feed-forward projections
    (Keras-Hub's GemmaBackbone takes twice that as `intermediate_dim`).
    """

    backbone: str  # Keras-Hub backbone class: "gemma" (Gemma 1/2 layers) or "gemma3"
    vocabulary_size: int
    num_layers: int
    hidden_dim: int
    num_query_heads: int
    num_key_value_heads: int
    head_dim: int
    ffn_dim: int
    context_length: int
    tied_embeddings: bool = True  # Gemma's output head is the embedding matrix
    post_norms: bool = False  # Gemma 2/3: RMS norms after attention and after the feed-forward
    query_key_norm: bool = False  # Gemma 3: RMS norms on queries and keys
    attention_soft_cap: float | None = None  # Gemma 2
    final_soft_cap: float | None = None  # Gemma 2
    vision_encoder: bool = False  # Gemma 3 multimodal presets carry a SigLIP encoder

    def projection_shapes(self) -> dict[str, tuple[int, ...]]:
        """Kernel shape of every projection in one decoder block, keyed by LoRA target name."""
        d, h = self.hidden_dim, self.head_dim
        return {
            "query": (self.num_query_heads, d, h),
            "key": (self.num_key_value_heads, d, h),
            "value": (self.num_key_value_heads, d, h),
            "attention_output": (self.num_query_heads, h, d),
            "ffw_gating": (d, self.ffn_dim),
            "ffw_gating_2": (d, self.ffn_dim),
            "ffw_linear": (self.ffn_dim, d),
        }

    def block_norm_parameters(self) -> int:
        norms = (4 if self.post_norms else 2) * self.hidden_dim
        return norms + (2 * self.head_dim if self.query_key_norm else 0)

    def block_parameters(self) -> int:
        """Parameters of one decoder block: projections and norm scales."""
        kernels = sum(_product(shape) for shape in self.projection_shapes().values())
        return kernels + self.block_norm_parameters()

    def embedding_parameters(self) -> int:
        tables = 1 if self.tied_embeddings else 2
        return tables * self.vocabulary_size * self.hidden_dim

    def vision_parameters(self) -> int:
        """SigLIP encoder (patch and position embeddings, 27 ViT blocks, final norm) + projection to text."""
        if not self.vision_encoder:
            return 0
        w = _VISION_WIDTH
        embeddings = _VISION_PATCH_INPUTS * w + w + _VISION_PATCHES * w
        block = 4 * (w * w + w) + 2 * (2 * w) + (w * _VISION_MLP + _VISION_MLP) + (_VISION_MLP * w + w)
        projector = w + w * self.hidden_dim  # RMS norm, then a bias-free dense into the text width
        return embeddings + _VISION_LAYERS * block + 2 * w + projector

    def parameter_count(self) -> int:
        """Every weight of the Keras-Hub backbone: embedding, blocks, final norm (and vision tower)."""
        return (
            self.embedding_parameters()
            + self.num_layers * self.block_parameters()
            + self.hidden_dim
            + self.vision_parameters()
        )

    def matrix_parameters(self) -> int:
        """Parameters in 2-D+ weights (what int8/int4 quantization stores in fewer bits)."""
        kernels = sum(_product(shape) for shape in self.projection_shapes().values())
        return self.embedding_parameters() + self.num_layers * kernels

    def lora_parameters(self, rank: int, targets) -> int:
        """Adapter parameters: A is kernel.shape[:-1] + (rank,), B is (rank, kernel.shape[-1]) per target."""
        shapes = self.projection_shapes()
        per_block = sum(_product(shapes[t][:-1]) * rank + rank * shapes[t][-1] for t in targets)
        return self.num_layers * per_block

    def keras_hub_kwargs(self) -> dict:
        """Constructor arguments of the Keras-Hub backbone with this shape (text decoder only)."""
        kwargs = {
            "vocabulary_size": self.vocabulary_size,
            "num_layers": self.num_layers,
            "num_query_heads": self.num_query_heads,
            "num_key_value_heads": self.num_key_value_heads,
            "hidden_dim": self.hidden_dim,
            "intermediate_dim": self.ffn_dim * (2 if self.backbone == "gemma" else 1),
            "head_dim": self.head_dim,
            "use_post_ffw_norm": self.post_norms,
            "use_post_attention_norm": self.post_norms,
            "attention_logit_soft_cap": self.attention_soft_cap,
            "final_logit_soft_cap": self.final_soft_cap,
        }
        if self.backbone == "gemma3":
            kwargs["use_query_key_norm"] = self.query_key_norm
        return kwargs

    @classmethod
    def from_keras_hub_config(cls, backbone_class: str, config: dict, context_length: int) -> GemmaShape:
        """The shape of a saved Keras-Hub backbone (its config.json "config" object)."""
        if backbone_class not in ("GemmaBackbone", "Gemma3Backbone"):
            raise ValueError(f"{backbone_class} is not a Gemma 1/2/3 backbone")
        gemma3 = backbone_class == "Gemma3Backbone"
        return cls(
            backbone="gemma3" if gemma3 else "gemma",
            vocabulary_size=int(config["vocabulary_size"]),
            num_layers=int(config["num_layers"]),
            hidden_dim=int(config["hidden_dim"]),
            num_query_heads=int(config["num_query_heads"]),
            num_key_value_heads=int(config["num_key_value_heads"]),
            head_dim=int(config["head_dim"]),
            ffn_dim=int(config["intermediate_dim"]) // (1 if gemma3 else 2),
            context_length=context_length,
            post_norms=bool(config.get("use_post_ffw_norm", False)),
            query_key_norm=gemma3 and bool(config.get("use_query_key_norm", True)),
            attention_soft_cap=config.get("attention_logit_soft_cap"),
            final_soft_cap=config.get("final_logit_soft_cap"),
            vision_encoder=gemma3 and bool(config.get("vision_encoder")),
        )


def _product(shape) -> int:
    total = 1
    for size in shape:
        total *= int(size)
    return total
