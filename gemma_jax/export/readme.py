"""README.md of an export: what the files are, how to load them, and the chat template the run trained on.

Every template string shown is produced by the functions training used (`gemma_jax.data.chat_template`),
so the README cannot drift from the format the model learned. A newcomer's first surprise is a model
that answers a plain prompt with nothing but `<end_of_turn>`: it expects its chat format.
"""

from __future__ import annotations

from gemma_jax.config.job_config import JobConfig
from gemma_jax.data.chat_template import MODEL_HEADER, prompt_text, render_text
from gemma_jax.data.example import Example, Turn
from gemma_jax.models.tokenizer import END_OF_TURN

QUESTION = "What is the capital of Norway?"
ANSWER = "Oslo."
SYSTEM = "Answer in one word."
TOKENIZER_FILE = "tokenizer.model"  # the vocabulary of a tiny:/random: base, trained with the run


def _fence(text: str, language: str = "text") -> str:
    return f"```{language}\n{text.rstrip(chr(10))}\n```"


def _files(kind: str, manifest: dict, archive: str) -> str:
    rows = []
    if kind == "adapter":
        layers = len(manifest.get("layers", []))
        rows += [
            (
                "adapter.safetensors",
                (
                    f"the LoRA factors of {layers} layers: `<layer path>/lora_kernel_a` and `/lora_kernel_b` each; "
                    f"a layer computes `kernel + alpha / rank * (A @ B)` (rank {manifest.get('rank')}, "
                    f"alpha {manifest.get('alpha')}, on {', '.join(manifest.get('targets', []))})"
                ),
            ),
            ("adapter_config.json", "those settings, the base model and the list of adapted layers"),
        ]
        if manifest.get("tokenizer"):
            rows.append((TOKENIZER_FILE, "the run's own vocabulary (its base is a test model built with it)"))
    else:
        rows.append(
            (
                "preset/",
                (
                    "a Keras-Hub preset of the whole fine-tuned model (adapters folded in), weights in "
                    f"{manifest.get('dtype', 'bfloat16')}: config.json, model.weights.h5, the tokenizer and preprocessor"
                ),
            )
        )
    rows += [
        ("config.yaml", "the run's full training config"),
        ("export.json", "what was exported: run, step, method, base model, kind, time"),
        ("README.md", "this file"),
    ]
    table = "\n".join(f"| `{name}` | {what} |" for name, what in rows)
    return f"| file | what it is |\n|---|---|\n{table}\n\n`{archive}` holds all of them."


def _loading(kind: str, cfg: JobConfig, manifest: dict) -> str:
    prompt = repr(prompt_text(QUESTION))
    if kind == "merged":
        code = (
            "import keras_hub\n\n"
            'causal_lm = keras_hub.models.CausalLM.from_preset("preset", dtype="bfloat16")\n'
            f"print({_generate_call('merged', prompt)})"
        )
        return (
            "With Keras-Hub (run it in this folder; without `dtype` Keras-Hub loads the weights in Keras' "
            "default float32):\n\n"
            f"{_fence(code, 'python')}\n\n"
            "With gemma-jax (it applies the chat template itself; `--raw` sends the prompt as typed):\n\n"
            f"{_fence(f'gemma-jax generate preset --prompt {QUESTION!r}', 'sh')}"
        )
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
        "nearly, not exactly, what the run computed (the merged export folds it into the dequantized base)."
        if quantized
        else ""
    )
    return (
        "The adapter goes on top of the run's base model. With gemma-jax (run it in this folder; the loop is "
        "plain Keras, so any Keras-Hub Gemma backbone of the same shape takes it the same way):\n\n"
        f"{_fence(code, 'python')}{note}\n\n"
        "A whole model in one folder, loadable without gemma-jax, is the merged export (Export page, "
        "or `gemma-jax export RUN_DIR --kind merged`)."
    )


def _generate_call(kind: str, prompt: str) -> str:
    """The loading snippet's generation call on `prompt` (Python source)."""
    if kind == "merged":
        return f"causal_lm.generate({prompt}, max_length=64)"
    return f"generator.generate_ids([{prompt}], 64)[0].text"


def _template(kind: str, cfg: JobConfig) -> str:
    data = cfg.data
    system = SYSTEM if data.system_column else None
    turns = ((Turn("system", system),) if system else ()) + (Turn("user", QUESTION), Turn("model", ANSWER))
    conversation = render_text(Example(turns))
    prompt = prompt_text(QUESTION, system)
    lines = [
        (
            f"The run formatted its data (`data.shape: {data.shape}`) with Gemma's chat template. A training "
            "example such as the question below with its answer became:"
        ),
        "",
        _fence(conversation),
        "",
    ]
    if system:
        lines += [
            (
                f"Gemma has no system role: the `{data.system_column}` column's text went into the first user "
                "turn, before the question, as above."
            ),
            "",
        ]
    if data.shape == "text":
        lines += [
            (
                f"This run trained on raw text (`data.shape: text`): each text was one model turn, "
                f"`{MODEL_HEADER!r}` + text + `{END_OF_TURN}`. To continue a text, pass `{MODEL_HEADER!r}` "
                "followed by its beginning."
            ),
            "",
        ]
    elif data.shape == "auto":
        lines += [
            (
                "(`auto`: the trainer chose the shape from the data's columns. Prompt/response and chat data "
                "look as above; raw text (`data.shape: text`) was one model turn per text.)"
            ),
            "",
        ]
    loss = "the answers only" if data.loss_on == "response" else "every token"
    lines += [
        (
            f"The loss was on {loss} (`data.loss_on: {data.loss_on}`); model turns end with `{END_OF_TURN}`, "
            "so the model learned to stop there."
        ),
        "",
        "**Give the model the same format.** A plain prompt is not what it learned: with the model loaded as above,",
        "",
        _fence(_generate_call(kind, repr(QUESTION)), "python"),
        "",
        (
            f"typically gives an empty answer, nothing but `{END_OF_TURN}`: the model ends a turn it never saw "
            "begin. Pass the user turn and the open model turn instead; the answer follows it and ends with "
            f"`{END_OF_TURN}`:"
        ),
        "",
        _fence(f"prompt = {prompt!r}\n{_generate_call(kind, 'prompt')}", "python"),
        "",
        "The prompt, as text:",
        "",
        _fence(prompt),
        "",
        (
            "`gemma-jax generate` and the dashboard's Playground build this prompt themselves "
            "(`gemma_jax.data.prompt_text`)."
        ),
    ]
    return "\n".join(lines)


def readme_text(kind: str, cfg: JobConfig, manifest: dict, archive: str) -> str:
    """The README of one export (`kind` adapter or merged) of a run whose config is `cfg`."""
    what = "LoRA adapter" if kind == "adapter" else f"merged model ({manifest.get('dtype', 'bfloat16')})"
    sections = [
        f"# {manifest.get('run', 'run')}: step {manifest.get('step')}, {what}",
        (
            f"Exported by gemma-jax on {manifest.get('created', '')} from run `{manifest.get('run', '')}`, checkpoint "
            f"step {manifest.get('step')}: method `{manifest.get('method')}` on the base model `{cfg.model.source}`."
        ),
        "## What the files are",
        _files(kind, manifest, archive),
        "## Loading it",
        _loading(kind, cfg, manifest),
        "## The chat template",
        _template(kind, cfg),
    ]
    return "\n\n".join(sections) + "\n"
