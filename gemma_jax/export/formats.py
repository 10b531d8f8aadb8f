"""The export formats: one table that the exporter, the CLI, the Export page and the model card read.

No JAX import: the dashboard lists formats without loading a model. Each format has a folder of its
own, RUN/export/step-N-<name>/ (listing.py); the writers live in exporter.py and the modules it calls.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ExportFormat:
    name: str  # the --formats name and the folder suffix
    label: str  # what the Export page and the README call it
    runtime: str  # where it runs
    needs_lora: bool = False  # only a LoRA/QLoRA/DPO run has adapters to export
    quantization: str | None = None  # GGUF quantization type; the page shows its perplexity cost


FORMATS: dict[str, ExportFormat] = {
    f.name: f
    for f in (
        ExportFormat("adapter", "LoRA adapter (Keras)", "gemma-jax, Keras-Hub", needs_lora=True),
        ExportFormat("keras", "Keras-Hub preset, merged (bf16)", "Keras-Hub, gemma-jax"),
        ExportFormat("hf", "Hugging Face transformers, merged", "transformers, vLLM, TGI, gemma-jax serve"),
        ExportFormat("peft", "PEFT LoRA adapter", "transformers + PEFT, vLLM (LoRA)", needs_lora=True),
        ExportFormat("gguf-f16", "GGUF f16", "llama.cpp, Ollama", quantization="f16"),
        ExportFormat("gguf-q8_0", "GGUF q8_0 (8-bit)", "llama.cpp, Ollama", quantization="q8_0"),
        ExportFormat("gguf-q4_k_m", "GGUF Q4_K_M (4-bit)", "llama.cpp, Ollama", quantization="q4_k_m"),
    )
}
DEFAULT_FORMATS = ("adapter", "keras")  # what `gemma-jax export RUN` writes without --formats
LEGACY_NAMES = {"merged": "keras"}  # folder suffixes of older exports

# Formats asked for that gemma-jax does not write, with the reason the Export page shows.
NOT_OFFERED = {
    "onnx": (
        "ONNX is not offered: the maintained exporter for transformers models (optimum-onnx 0.1) needs "
        "transformers older than 4.58, and gemma-jax's Hugging Face export and its checks need transformers 5, "
        "so the two cannot be installed together. Export the Hugging Face transformers format and convert it "
        "with optimum-onnx in a separate Python environment."
    ),
}


def parse_formats(text: str | None, lora: bool, run_dir: str = "the run") -> list[str]:
    """The formats named in `text` ("hf,gguf-f16", "all", None = the defaults), in table order, checked:
    an unknown or unoffered name, or an adapter format of a fully fine-tuned run, is a ValueError."""
    if text is None:
        names = [n for n in DEFAULT_FORMATS if lora or not FORMATS[n].needs_lora]
    elif text.strip() == "all":
        names = [n for n, f in FORMATS.items() if lora or not f.needs_lora]
    else:
        names = [LEGACY_NAMES.get(n.strip().lower(), n.strip().lower()) for n in text.split(",") if n.strip()]
    for name in names:
        if name in NOT_OFFERED:
            raise ValueError(NOT_OFFERED[name])
        if name not in FORMATS:
            raise ValueError(f"unknown export format {name!r}; choose from {', '.join(FORMATS)} (or all)")
    if not names:
        raise ValueError(f"no export format given; choose from {', '.join(FORMATS)} (or all)")
    adapters = [n for n in names if FORMATS[n].needs_lora]
    if adapters and not lora:
        raise ValueError(
            f"{run_dir} was fine-tuned in full: it has no adapter to export as {', '.join(adapters)}; "
            "export a merged format instead (hf, keras or gguf-*)"
        )
    return [n for n in FORMATS if n in names]
