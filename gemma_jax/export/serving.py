"""How to serve an export: a `docker run` (or gemma-jax) command, a `curl` against it, and a Vertex AI
model-upload spec, per format. The export writes them as `serving.json`; the Export page shows them.

Each runtime is the one the format is for, with its own published image: llama.cpp's server for GGUF,
vLLM's OpenAI server for transformers folders (and PEFT adapters on their base), and `gemma-jax serve`
(OpenAI-compatible too, and Vertex AI's custom-container contract) for the Keras formats. All of them
answer `/v1/chat/completions`, so the same curl works everywhere.
"""

from __future__ import annotations

import json
import shlex

from gemma_jax.export.formats import FORMATS

LLAMA_CPP_IMAGE = "ghcr.io/ggml-org/llama.cpp:server"
VLLM_IMAGE = "vllm/vllm-openai:latest"
SERVING_FILE = "serving.json"
# vLLM's allowed --max-lora-rank values (vllm/config/lora.py's MaxLoRARanks); its default, 16, sizes every
# LoRA slot, so an adapter with a larger rank anywhere (PEFT's rank_pattern) needs the flag.
VLLM_LORA_RANKS = (1, 8, 16, 32, 64, 128, 256, 320, 512)


def vllm_max_lora_rank(rank: int) -> int:
    """The smallest of vLLM's allowed --max-lora-rank values that holds `rank` (the largest allowed past them)."""
    return next((allowed for allowed in VLLM_LORA_RANKS if allowed >= rank), VLLM_LORA_RANKS[-1])


def _curl(port: int, model: str) -> str:
    body = json.dumps({"model": model, "messages": [{"role": "user", "content": "Hello!"}], "max_tokens": 64})
    return (
        f"curl http://localhost:{port}/v1/chat/completions -H 'Content-Type: application/json' -d {shlex.quote(body)}"
    )


def serving_spec(kind: str, manifest: dict, display_name: str) -> dict:
    """{"command", "curl", "vertex"} for an export of format `kind` (run from inside its folder)."""
    if FORMATS[kind].quantization:
        gguf = manifest.get("gguf", "model.gguf")
        port, image, model = 8080, LLAMA_CPP_IMAGE, gguf
        args = ["-m", f"/model/{gguf}", "--host", "0.0.0.0", "--port", str(port)]
        command = f'docker run --rm -p {port}:{port} -v "$PWD":/model {image} {" ".join(args)}'
        health, predict = "/health", "/v1/chat/completions"
    elif kind in ("hf", "peft"):
        port, image, model = 8000, VLLM_IMAGE, "/model" if kind == "hf" else "adapter"
        if kind == "hf":
            args = ["--model", "/model", "--port", str(port)]
        else:
            base = manifest.get("peft_base", "BASE")
            args = ["--model", base, "--enable-lora", "--lora-modules", "adapter=/model"]
            rank = int(manifest.get("max_lora_rank") or 16)  # the adapter's largest rank
            args += ["--max-lora-rank", str(vllm_max_lora_rank(rank)), "--port", str(port)]
        command = f'docker run --rm -p {port}:{port} -v "$PWD":/model {image} {" ".join(args)}'
        health, predict = "/health", "/v1/chat/completions"
    else:
        # The model id gemma-jax serve answers to is the served folder's name: preset/, or the run's.
        port, image, model = 8000, None, "preset" if kind == "keras" else str(manifest.get("run", "RUN"))
        # An adapter alone is no model: gemma-jax serves the run it came from (RUN_DIR/export/<this folder>),
        # its base model with the adapter's checkpoint. This machine only (serve's default host), as the curl
        # below asks; --host 0.0.0.0 (with --api-key) opens it to the network.
        target = "preset" if kind == "keras" else f"../.. --step {manifest.get('step', 'STEP')}"
        command = f"gemma-jax serve {target} --port {port}"
        args, health, predict = [], "/health", "/v1/chat/completions"
    vertex = {
        "displayName": display_name,
        "artifactUri": "gs://YOUR_BUCKET/PATH_TO_THIS_FOLDER",
        "containerSpec": {
            "imageUri": image or "YOUR_REGISTRY/gemma-jax:latest",
            "args": [a.replace("/model", "$(AIP_STORAGE_URI)") for a in args] if image else [],
            "ports": [{"containerPort": port}],
            "healthRoute": health,
            "predictRoute": predict,
        },
    }
    return {"command": command, "curl": _curl(port, model), "vertex": vertex}
