"""Write a fine-tuned model as one GGUF file that llama.cpp and Ollama run, and an Ollama Modelfile.

`write_gguf` folds LoRA adapters into the weights first (`merged_copy`, which also dequantizes a
QLoRA base), then writes what llama.cpp's convert_hf_to_gguf.py (and, for q4_k_m, llama-quantize)
would write for the same model: `general.*`, the architecture's hyperparameters, the SentencePiece
vocabulary and chat template (gguf_metadata.py), and the tensors in llama.cpp's names, layout and
types (gguf_tensors.py). Tensors are computed, quantized and written one at a time, so memory holds
the model plus one tensor; the file is written under a temporary name and renamed into place.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Mapping
from pathlib import Path

import gguf
import numpy as np
from gguf import GGUFWriter

from gemma_jax.export.gguf_metadata import (
    BASENAMES,
    GGUFExportError,
    add_hyperparameters,
    add_vocabulary,
    detect_architecture,
    vocabulary,
)
from gemma_jax.export.gguf_tensors import FILE_TYPES, QUANTIZATIONS, encode, nbytes, tensor_sources, tensor_type
from gemma_jax.models.loaded_model import LoadedModel

__all__ = ["QUANTIZATIONS", "GGUFExportError", "modelfile_text", "write_gguf", "write_modelfile"]


def export_backbone(model: LoadedModel):
    """The backbone to write: the model itself, or a float copy with adapters folded in (and QLoRA dequantized)."""
    from gemma_jax.models.lora import lora_layers, merged_copy
    from gemma_jax.models.quantization import quantization_mode

    backbone = model.backbone
    if lora_layers(backbone) or quantization_mode(backbone) is not None:
        return merged_copy(backbone, dtype="float32")
    return backbone


def _size_label(sources) -> str:
    return gguf.size_label(sum(int(np.prod(s.shape)) for s in sources), 0, 0, 0)


def write_gguf(
    model: LoadedModel,
    path: Path,
    quantization: str,
    *,
    name: str | None = None,
    finetune: str | None = None,
) -> None:
    """Write `model` (adapters folded in) as a GGUF file at `path`, its matrices in `quantization`:
    "f16", "q8_0" or "q4_k_m" (llama.cpp's Q4_K_M mix). `name` is general.name (default: the file's stem)."""
    if quantization not in QUANTIZATIONS:
        raise ValueError(f"unknown GGUF quantization {quantization!r}; use one of {', '.join(QUANTIZATIONS)}")
    path = Path(path)
    arch = detect_architecture(model.backbone)
    backbone = export_backbone(model)
    rows = int(backbone.get_layer("token_embedding").embeddings.shape[0])
    pieces = model.tokenizer.vocabulary_size
    if pieces > rows:
        raise GGUFExportError(f"the tokenizer has {pieces} tokens but the embedding only {rows} rows")
    # convert_hf_to_gguf.py drops Gemma 3's embedding rows past the vocabulary and pads Gemma 1/2's vocabulary.
    vocab_rows = pieces if arch == "gemma3" else rows
    vocab = vocabulary(model.tokenizer.proto, vocab_rows)
    sources = tensor_sources(backbone, vocabulary_rows=vocab_rows)
    types = [tensor_type(source, quantization, backbone.num_layers) for source in sources]

    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(handle)
    try:
        writer = GGUFWriter(temporary, arch)
        writer.add_type(gguf.GGUFType.MODEL)
        writer.add_name(name or path.stem)
        writer.add_basename(BASENAMES[arch])
        if finetune:
            writer.add_finetune(finetune)
        writer.add_size_label(_size_label(sources))
        add_hyperparameters(writer, backbone, arch, model.context_length)
        writer.add_file_type(int(FILE_TYPES[quantization]))
        writer.add_quantization_version(gguf.GGML_QUANT_VERSION)
        add_vocabulary(writer, vocab, arch)
        for source, qtype in zip(sources, types):
            writer.add_tensor_info(source.name, source.shape, np.dtype(np.float32), nbytes(source.shape, qtype), qtype)
        writer.write_header_to_file()
        writer.write_kv_data_to_file()
        writer.write_ti_data_to_file()
        for source, qtype in zip(sources, types):
            data = encode(source.load(), qtype)
            writer.write_tensor_data(data)
            del data
        writer.close()
        os.replace(temporary, path)
    except BaseException:
        if os.path.exists(temporary):
            os.unlink(temporary)
        raise


# --- Ollama ---------------------------------------------------------------------------------------

# Ollama's Go template for Gemma turns, rendering what gemma_jax.data.chat_template renders: system
# messages joined by a blank line and put before the first user message; <bos> is added by the runner.
OLLAMA_TEMPLATE = """{{- $system := "" }}
{{- range .Messages }}{{ if eq .Role "system" }}{{ if $system }}{{ $system = printf "%s\\n\\n%s" $system .Content }}{{ else }}{{ $system = .Content }}{{ end }}{{ end }}{{ end }}
{{- range $i, $_ := .Messages }}
{{- $last := eq (len (slice $.Messages $i)) 1 }}
{{- if eq .Role "user" }}<start_of_turn>user
{{ if $system }}{{ $system }}

{{ $system = "" }}{{ end }}{{ .Content }}<end_of_turn>
{{ if $last }}<start_of_turn>model
{{ end }}
{{- else if eq .Role "assistant" }}<start_of_turn>model
{{ .Content }}{{ if not $last }}<end_of_turn>
{{ end }}
{{- end }}
{{- end }}"""
DEFAULT_PARAMETERS: dict[str, float | int | str] = {"stop": "<end_of_turn>"}


def _quoted(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def modelfile_text(
    gguf_name: str, *, system: str | None = None, parameters: Mapping[str, float | int | str] | None = None
) -> str:
    """The Modelfile `ollama create NAME -f Modelfile` builds a model from, next to the GGUF file."""
    lines = [f"FROM ./{gguf_name}", "", f'TEMPLATE """{OLLAMA_TEMPLATE}"""', ""]
    if system:
        lines += [f'SYSTEM """{system}"""', ""]
    for key, value in {**DEFAULT_PARAMETERS, **(parameters or {})}.items():
        lines.append(f"PARAMETER {key} {_quoted(value) if isinstance(value, str) else value}")
    return "\n".join(lines) + "\n"


def write_modelfile(
    gguf_name: str,
    folder: Path,
    *,
    system: str | None = None,
    parameters: Mapping[str, float | int | str] | None = None,
) -> Path:
    """Write `folder/Modelfile` for the GGUF file `gguf_name` in the same folder; returns its path.

    `parameters` add to (or replace) the default `stop "<end_of_turn>"`, e.g. {"temperature": 1.0}."""
    if "/" in gguf_name or "\\" in gguf_name or "\n" in gguf_name:
        raise ValueError(f"gguf_name must be a file name in the folder, not {gguf_name!r}")
    if system is not None and '"""' in system:
        raise ValueError('the system prompt cannot contain """ (it ends a Modelfile string)')
    path = Path(folder) / "Modelfile"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(modelfile_text(gguf_name, system=system, parameters=parameters), encoding="utf-8")
    return path
