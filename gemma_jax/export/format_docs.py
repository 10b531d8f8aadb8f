"""Per export format: the README's table of files and its "Loading it" section, with code that runs.

Each snippet is the shortest correct way to use the format in its own runtime (Keras-Hub,
transformers, PEFT, llama.cpp, Ollama, gemma-jax), run from inside the export folder.
"""

from __future__ import annotations

from gemma_jax.config.job_config import JobConfig
from gemma_jax.data.chat_template import prompt_text
from gemma_jax.export.formats import FORMATS
from gemma_jax.runs.schema import CONFIG_FILE, TOKENIZER_FILE

QUESTION = "What is the capital of Norway?"
COMMON_FILES = (
    (CONFIG_FILE, "the run's full training config"),
    ("export.json", "what was exported: run, step, method, base model, format, time, sizes"),
    ("lineage.json", "run id, checkpoint step, config and dataset hashes, parent export"),
    ("serving.json", "a server command for this format, a curl to try it, and a Vertex AI model-upload spec"),
    ("README.md", "this model card"),
)


def fence(text: str, language: str = "text") -> str:
    return f"```{language}\n{text.rstrip(chr(10))}\n```"


def _adapter_files(manifest: dict) -> list[tuple[str, str]]:
    rows = [
        (
            "adapter.safetensors",
            (
                f"the LoRA factors of {len(manifest.get('layers', []))} layers: `<layer path>/lora_kernel_a` and "
                f"`/lora_kernel_b` each; a layer computes `kernel + alpha / rank * (A @ B)` (rank "
                f"{manifest.get('rank')}, alpha {manifest.get('alpha')}, on {', '.join(manifest.get('targets', []))})"
            ),
        ),
        ("adapter_config.json", "those settings, the base model and the list of adapted layers"),
    ]
    if manifest.get("tokenizer"):
        rows.append((TOKENIZER_FILE, "the run's own vocabulary (its base is a test model built with it)"))
    return rows


def format_files(kind: str, manifest: dict) -> list[tuple[str, str]]:
    """(file, what it is) for the files particular to `kind`."""
    if kind == "adapter":
        return _adapter_files(manifest)
    if kind == "keras":
        return [
            (
                "preset/",
                (
                    "a Keras-Hub preset of the whole fine-tuned model (adapters folded in), weights in "
                    f"{manifest.get('dtype', 'bfloat16')}: config.json, model.weights.h5, the tokenizer and preprocessor"
                ),
            )
        ]
    if kind == "hf":
        return [
            ("config.json", "the transformers model config"),
            ("model.safetensors", "the weights, adapters folded in (several shards and an index when large)"),
            ("tokenizer.model, tokenizer.json, tokenizer_config.json", "the tokenizer and its chat template"),
            ("generation_config.json", "the stop tokens (`<eos>`, `<end_of_turn>`)"),
        ]
    if kind == "peft":
        return [
            ("adapter_config.json", "PEFT's LoRA config: target modules, ranks and alphas"),
            ("adapter_model.safetensors", "the LoRA factors under PEFT's names, converted exactly from Keras'"),
        ]
    gguf = manifest.get("gguf", "model.gguf")
    return [
        (gguf, f"the whole model for llama.cpp, {FORMATS[kind].label}, with the tokenizer and chat template"),
        ("Modelfile", "for Ollama: `ollama create NAME -f Modelfile`"),
    ]


def files_table(kind: str, manifest: dict, archive: str) -> str:
    rows = [*format_files(kind, manifest), *COMMON_FILES]
    table = "\n".join(f"| `{name}` | {what} |" for name, what in rows)
    return f"| file | what it is |\n|---|---|\n{table}\n\n`{archive}` holds all of them."


def generate_call(kind: str, prompt: str) -> str:
    """The loading snippet's generation call on `prompt` (Python source)."""
    if kind == "keras":
        return f"causal_lm.generate({prompt}, max_length=64)"
    if kind in ("hf", "peft"):
        return (
            f"ids = tokenizer({prompt}, return_tensors='pt', add_special_tokens=True)\n"
            "print(tokenizer.decode(model.generate(**ids, max_new_tokens=64, do_sample=False)[0][ids['input_ids']"
            ".shape[1]:]))"
        )
    return f"generator.generate_ids([{prompt}], 64)[0].text"


def _keras(cfg: JobConfig, manifest: dict) -> str:
    prompt = repr(prompt_text(QUESTION))
    code = (
        "import keras_hub\n\n"
        'causal_lm = keras_hub.models.CausalLM.from_preset("preset", dtype="bfloat16")\n'
        f"print({generate_call('keras', prompt)})"
    )
    return (
        "With Keras-Hub (run it in this folder; without `dtype` Keras-Hub loads the weights in Keras' "
        f"default float32):\n\n{fence(code, 'python')}\n\n"
        "With gemma-jax (it applies the chat template itself; `--raw` sends the prompt as typed):\n\n"
        f"{fence(f'gemma-jax generate preset --prompt {QUESTION!r}', 'sh')}"
    )


def _adapter(cfg: JobConfig, manifest: dict) -> str:
    source = cfg.model.source
    if manifest.get("tokenizer"):
        load = (
            f"model = load_model({source!r}, seed={cfg.train.seed}, "
            f'tokenizer_proto=open("{TOKENIZER_FILE}", "rb").read())  # the base this adapter was trained on'
        )
    else:
        load = f"model = load_model({source!r})  # the base this adapter was trained on"
    code = (
        "from safetensors.numpy import load_file\n\n"
        "from gemma_jax.data import prompt_text\n"
        "from gemma_jax.models.generation import Generator\n"
        "from gemma_jax.models.loading import load_model\n\n"
        f"{load}\n"
        'tensors = load_file("adapter.safetensors")\n'
        "for layer in model.backbone._flatten_layers():\n"
        '    name = f"{layer.path}/lora_kernel_a"\n'
        "    if name in tensors:\n"
        f"        layer.enable_lora({manifest.get('rank')}, lora_alpha={manifest.get('alpha')})\n"
        "        layer.lora_kernel_a.assign(tensors[name])\n"
        '        layer.lora_kernel_b.assign(tensors[f"{layer.path}/lora_kernel_b"])\n\n'
        "generator = Generator(model, max_length=128)\n"
        f"print(generator.generate_ids([prompt_text({QUESTION!r})], 64)[0].text)"
    )
    quantized = manifest.get("base_quantization")
    note = (
        f"\n\nThe adapter was trained over an {quantized}-quantized base; over the float base above it computes "
        "nearly, not exactly, what the run computed (the merged exports fold it into the dequantized base)."
        if quantized
        else ""
    )
    return (
        "The adapter goes on top of the run's base model. With gemma-jax (run it in this folder; the loop is "
        "plain Keras, so any Keras-Hub Gemma backbone of the same shape takes it the same way):\n\n"
        f"{fence(code, 'python')}{note}\n\n"
        "For transformers, export `peft` (the same adapter under PEFT's names); a whole model in one folder is "
        "the `hf`, `keras` or `gguf-*` export."
    )


def _hf(cfg: JobConfig, manifest: dict) -> str:
    code = (
        "from transformers import AutoModelForCausalLM, AutoTokenizer\n\n"
        'tokenizer = AutoTokenizer.from_pretrained(".")\n'
        'model = AutoModelForCausalLM.from_pretrained(".", dtype="auto")\n'
        f'messages = [{{"role": "user", "content": {QUESTION!r}}}]\n'
        "ids = tokenizer.apply_chat_template(messages, add_generation_prompt=True, return_tensors='pt', "
        "return_dict=True)\n"
        "out = model.generate(**ids, max_new_tokens=64, do_sample=False)\n"
        "print(tokenizer.decode(out[0][ids['input_ids'].shape[1]:], skip_special_tokens=True))"
    )
    return (
        f"With transformers (in this folder):\n\n{fence(code, 'python')}\n\n"
        "As an OpenAI-compatible server: `gemma-jax serve .` (or vLLM: `vllm serve .`)."
    )


def _peft(cfg: JobConfig, manifest: dict) -> str:
    base = manifest.get("peft_base", "BASE")
    code = (
        "from peft import PeftModel\n"
        "from transformers import AutoModelForCausalLM, AutoTokenizer\n\n"
        f"base = AutoModelForCausalLM.from_pretrained({base!r}, dtype='auto')\n"
        'model = PeftModel.from_pretrained(base, ".")\n'
        f"tokenizer = AutoTokenizer.from_pretrained({base!r})"
    )
    return (
        f"With transformers and PEFT (in this folder):\n\n{fence(code, 'python')}\n\n"
        f"{manifest.get('peft_base_note', '')}\n\n"
        "`model.merge_and_unload()` folds it in; gemma-jax reads it back as `model.adapter` in a run's config."
    ).replace("\n\n\n\n", "\n\n")


def _gguf(cfg: JobConfig, manifest: dict) -> str:
    gguf = manifest.get("gguf", "model.gguf")
    from gemma_jax.export.quality import quality_note

    note = quality_note(manifest.get("quality"))
    line = f"\n\n{note}" if note else ""
    llama_cpp = fence(f"llama-cli -m {gguf} -cnv\nllama-server -m {gguf} --port 8080", "sh")
    ollama = fence("ollama create my-gemma -f Modelfile\nollama run my-gemma", "sh")
    return (
        f"With llama.cpp (chat, or an OpenAI-compatible server on port 8080):\n\n{llama_cpp}\n\n"
        f"With Ollama:\n\n{ollama}\n\n"
        f"With gemma-jax: `gemma-jax generate {gguf} --prompt {QUESTION!r}` or `gemma-jax serve {gguf}`.{line}"
    )


_LOADERS = {"keras": _keras, "adapter": _adapter, "hf": _hf, "peft": _peft}


def loading_section(kind: str, cfg: JobConfig, manifest: dict) -> str:
    return _LOADERS.get(kind, _gguf)(cfg, manifest)
