"""suggest_columns: the likely mapping of a new file's columns, for a person to confirm (the New-run wizard)."""

from __future__ import annotations

import pytest

from gemma_jax.config.job_config import DataConfig
from gemma_jax.data.shapes import detect_shape, suggest_columns


@pytest.mark.parametrize(
    ("columns", "shape", "mapping", "layout"),
    [
        (
            ["question", "answer"],
            "prompt_response",
            {"prompt": "question", "response": "answer"},
            "prompt and response",
        ),
        (["Prompt", "Completion"], "prompt_response", {"prompt": "Prompt", "response": "Completion"}, None),
        (
            ["prompt", "response", "system"],
            "prompt_response",
            {"prompt": "prompt", "response": "response", "system": "system"},
            None,
        ),
        (
            ["question", "answer", "context"],
            "prompt_response",
            {"prompt": "question", "response": "answer", "system": "context"},
            None,
        ),
        (
            ["instruction", "input", "output"],
            "prompt_response",
            {"prompt": "instruction", "response": "output", "system": "input"},
            "Alpaca",
        ),
        (["instruction", "output"], "prompt_response", {"prompt": "instruction", "response": "output"}, "Alpaca"),
        (["input", "output"], "prompt_response", {"prompt": "input", "response": "output"}, "prompt and response"),
        (["conversations"], "chat", {"messages": "conversations"}, "chat messages"),
        (["id", "messages", "system"], "chat", {"messages": "messages", "system": "system"}, None),
        (
            ["prompt", "chosen", "rejected"],
            "preference",
            {"chosen": "chosen", "rejected": "rejected", "prompt": "prompt"},
            None,
        ),
        (["sentence", "label"], "classification", {"text": "sentence", "label": "label"}, "text and label"),
        (["text"], "text", {"text": "text"}, "plain text"),
        (["body-text", "Text"], "text", {"text": "Text"}, None),
    ],
)
def test_common_layouts(columns, shape, mapping, layout):
    found = suggest_columns(columns)
    assert found is not None and found.shape == shape and found.columns == mapping
    if layout:
        assert found.layout == layout


def test_nothing_fits_and_a_chosen_shape_wins():
    assert suggest_columns(["foo", "bar"]) is None and suggest_columns([]) is None
    assert suggest_columns(["text", "label"]).shape == "classification"
    assert suggest_columns(["text", "label"], "text").columns == {"text": "text"}
    assert suggest_columns(["question", "answer"], "chat").shape == "prompt_response"  # chat does not fit


def test_a_suggestion_is_what_the_reader_then_uses():
    """Set as data.shape and the column fields, the engine's own detection agrees (Alpaca's input included)."""
    found = suggest_columns(["instruction", "input", "output"])
    fields = {f"{role}_column": column for role, column in found.columns.items()}
    mapping = detect_shape(["instruction", "input", "output"], DataConfig(shape=found.shape, **fields), "f.jsonl")
    assert mapping.shape == "prompt_response"
    assert mapping.columns == {"prompt": "instruction", "response": "output", "system": "input"}
