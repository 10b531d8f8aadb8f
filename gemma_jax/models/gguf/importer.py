"""Any Gemma GGUF file -> Keras-Hub backbone and preset: dispatch on `general.architecture`.

llama.cpp writes "gemma" for Gemma 1 and CodeGemma, "gemma2" for Gemma 2 and
"gemma3" for Gemma 3 (text); each has its importer module. `gguf_preset` is
what `gemma_jax.models.loading` calls: convert once, cache by sha256.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from gemma_jax.models.gguf import gemma3_import, gemma_import
from gemma_jax.models.gguf.errors import GGUFImportError
from gemma_jax.models.gguf.preset_cache import file_sha256, preset_cache_root, write_preset
from gemma_jax.models.gguf.reader import GGUFFile, GGUFFormatError, read_gguf


@dataclass(frozen=True)
class GGUFImporter:
    """How one `general.architecture` is imported."""

    model_name: str
    import_file: Callable[[GGUFFile, str], tuple[Any, bytes]]  # (open file, dtype) -> (backbone, proto)
    keras_tokenizer: Callable[[bytes], Any]  # proto -> Keras-Hub tokenizer saved with the preset


IMPORTERS: dict[str, GGUFImporter] = {
    "gemma": GGUFImporter("Gemma (incl. CodeGemma)", gemma_import.import_gemma, gemma_import.keras_tokenizer),
    "gemma2": GGUFImporter("Gemma 2", gemma_import.import_gemma, gemma_import.keras_tokenizer),
    "gemma3": GGUFImporter("Gemma 3", gemma3_import.import_gemma3, gemma3_import.keras_tokenizer),
}


def supported_architectures() -> str:
    return ", ".join(f"{importer.model_name} ('{arch}')" for arch, importer in IMPORTERS.items())


def importer_for(gguf: GGUFFile) -> GGUFImporter:
    """The importer for the file's `general.architecture`, or GGUFImportError naming the supported ones."""
    arch = gguf.architecture
    if arch in IMPORTERS:
        return IMPORTERS[arch]
    what = "has no general.architecture" if arch is None else f"holds a '{arch}' model (general.architecture)"
    raise GGUFImportError(f"'{gguf.path}' {what}; gemma-jax imports GGUF files of {supported_architectures()}")


def load_gguf(path: str | os.PathLike[str], dtype: str = "float32"):
    """Load any supported Gemma GGUF file: returns (backbone, SentencePiece proto, architecture).

    The backbone is a `GemmaBackbone` for Gemma 1/2 and a `Gemma3Backbone` for Gemma 3.
    """
    with read_gguf(path) as gguf:
        backbone, proto = importer_for(gguf).import_file(gguf, dtype)
        return backbone, proto, gguf.architecture


def convert_gguf_to_preset(gguf_path: str | os.PathLike[str], preset_dir: str, dtype: str = "float32", **info) -> str:
    """Convert any supported Gemma GGUF into the Keras preset `preset_dir` (atomically; kept if already there)."""

    def build():
        backbone, proto, arch = load_gguf(gguf_path, dtype)
        return backbone, IMPORTERS[arch].keras_tokenizer(proto), {"architecture": arch}

    return write_preset(preset_dir, build, dtype, source=os.path.abspath(os.fspath(gguf_path)), **info)


def gguf_preset(gguf_path: str | os.PathLike[str], dtype: str = "float32") -> str:
    """Convert any supported Gemma GGUF once, cached by the file's sha256; return the preset directory."""
    path = os.fspath(gguf_path)
    if not os.path.isfile(path):
        raise GGUFFormatError(f"GGUF file '{path}' does not exist")
    sha = file_sha256(path)
    name = f"{os.path.splitext(os.path.basename(path))[0]}-{sha[:16]}-{dtype}"
    return convert_gguf_to_preset(path, os.path.join(preset_cache_root(), name), dtype, sha256=sha)
