"""README.md of an export: a model card (front matter and the run's facts, model_card.py), what the
files are and how to load them (format_docs.py), and the chat template the run trained on.

Every template string shown is produced by the functions training used (`gemma_jax.data.chat_template`),
so the README cannot drift from the format the model learned. A newcomer's first surprise is a model
that answers a plain prompt with nothing but `<end_of_turn>`: it expects its chat format.
"""

from __future__ import annotations

from pathlib import Path

from gemma_jax.config.job_config import JobConfig
from gemma_jax.data.chat_template import MODEL_HEADER, prompt_text, render_text
from gemma_jax.data.example import Example, Turn
from gemma_jax.export.format_docs import QUESTION, fence, files_table, generate_call, loading_section
from gemma_jax.export.formats import FORMATS
from gemma_jax.export.model_card import card_sections, front_matter
from gemma_jax.models.tokenizer import END_OF_TURN

ANSWER = "Oslo."
SYSTEM = "Answer in one word."


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
        fence(conversation),
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
        fence(generate_call(kind, repr(QUESTION)), "python"),
        "",
        (
            f"typically gives an empty answer, nothing but `{END_OF_TURN}`: the model ends a turn it never saw "
            "begin. Pass the user turn and the open model turn instead; the answer follows it and ends with "
            f"`{END_OF_TURN}`:"
        ),
        "",
        fence(f"prompt = {prompt!r}\n{generate_call(kind, 'prompt')}", "python"),
        "",
        "The prompt, as text:",
        "",
        fence(prompt),
        "",
        (
            "`gemma-jax generate` and the dashboard's Playground build this prompt themselves "
            "(`gemma_jax.data.prompt_text`)."
        ),
    ]
    return "\n".join(lines)


def readme_text(kind: str, cfg: JobConfig, manifest: dict, archive: str, run_dir: Path, lineage: dict) -> str:
    """The README (model card) of one export of format `kind` of the run in `run_dir`."""
    what = FORMATS[kind].label
    sections = [
        front_matter(kind, cfg, lineage),
        f"# {manifest.get('run', 'run')}: step {manifest.get('step')}, {what}",
        (
            f"Exported by gemma-jax on {manifest.get('created', '')} from run `{manifest.get('run', '')}`, checkpoint "
            f"step {manifest.get('step')}: method `{manifest.get('method')}` on the base model `{cfg.model.source}`. "
            f"Runs in: {FORMATS[kind].runtime}."
        ),
        "## What the files are",
        files_table(kind, manifest, archive),
        "## Loading it",
        loading_section(kind, cfg, manifest),
        "## The chat template",
        _template(kind, cfg),
        *card_sections(cfg, Path(run_dir), int(manifest.get("step", 0))),
    ]
    return "\n\n".join(sections) + "\n"
