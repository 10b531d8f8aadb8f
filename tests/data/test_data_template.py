from __future__ import annotations

import numpy as np
import pytest

from gemma_jax.data import DataError, Example, Turn, prompt_text, render, render_text, tokenize_example

QA = Example.from_prompt_response("What is the capital of France?", "Arr, the capital of France be Paris, matey!")


def test_template_exact_string():
    assert render_text(QA) == (
        "<start_of_turn>user\nWhat is the capital of France?<end_of_turn>\n"
        "<start_of_turn>model\nArr, the capital of France be Paris, matey!<end_of_turn>\n"
    )
    assert render(QA) == [
        ("<start_of_turn>user\nWhat is the capital of France?<end_of_turn>\n", False),
        ("<start_of_turn>model\n", False),
        ("Arr, the capital of France be Paris, matey!<end_of_turn>\n", True),
    ]


def test_system_is_folded_into_first_user_turn_and_multi_turn():
    chat = Example(
        (
            Turn("system", "Talk like a pirate."),
            Turn("user", "Hi"),
            Turn("model", "Arr!"),
            Turn("user", "Bye"),
            Turn("model", "Yo ho!"),
        )
    )
    assert render_text(chat) == (
        "<start_of_turn>user\nTalk like a pirate.\n\nHi<end_of_turn>\n"
        "<start_of_turn>model\nArr!<end_of_turn>\n"
        "<start_of_turn>user\nBye<end_of_turn>\n<start_of_turn>model\nYo ho!<end_of_turn>\n"
    )
    assert [flag for _, flag in render(chat)] == [False, False, True, False, False, True]


def test_prompt_text():
    assert prompt_text("Hi") == "<start_of_turn>user\nHi<end_of_turn>\n<start_of_turn>model\n"
    assert prompt_text("Hi", system="Be a pirate.") == (
        "<start_of_turn>user\nBe a pirate.\n\nHi<end_of_turn>\n<start_of_turn>model\n"
    )
    assert render_text(QA).startswith(prompt_text(QA.prompt))


def test_user_and_model_text_is_trimmed_and_system_text_is_not():
    """Gemma's official template applies Jinja's `trim` to user and model content, not to the system prefix."""
    chat = Example((Turn("system", " Be brief.\n"), Turn("user", "\n  Hi there? \n"), Turn("model", " Arr!\n\n")))
    assert render_text(chat) == (
        "<start_of_turn>user\n Be brief.\n\n\nHi there?<end_of_turn>\n<start_of_turn>model\nArr!<end_of_turn>\n"
    )
    assert prompt_text("What is 2+2?\n") == prompt_text("What is 2+2?")
    assert prompt_text(" Hi ", system="Sys ") == "<start_of_turn>user\nSys \n\nHi<end_of_turn>\n<start_of_turn>model\n"


def test_loss_covers_exactly_the_response_and_end_of_turn(tokenizer):
    tokenized = tokenize_example(QA, tokenizer, "response")
    ids, loss = tokenized.ids, tokenized.loss
    assert ids.dtype == np.int32 and loss.dtype == bool and ids.shape == loss.shape
    assert ids[0] == tokenizer.bos_id and not loss[0]
    assert tokenizer.decode(ids[loss]) == "Arr, the capital of France be Paris, matey!<end_of_turn>\n"
    assert tokenizer.end_of_turn_id in ids[loss]
    assert tokenizer.decode(ids[~loss][1:]) == "".join(text for text, _ in render(QA)[:2])
    # the response is one contiguous block at the end
    first = int(np.argmax(loss))
    assert loss[first:].all() and not loss[:first].any()


def test_training_prompt_tokens_match_generation_prompt(tokenizer):
    tokenized = tokenize_example(QA, tokenizer)
    prompt_ids = tokenized.ids[1:][~tokenized.loss[1:]]
    assert prompt_ids.tolist() == tokenizer.encode(prompt_text(QA.prompt))


def test_loss_on_all_and_bad_value(tokenizer):
    tokenized = tokenize_example(QA, tokenizer, "all")
    assert not tokenized.loss[0] and tokenized.loss[1:].all()
    assert tokenizer.decode(tokenized.ids[1:]) == render_text(QA)
    with pytest.raises(DataError, match="loss_on"):
        tokenize_example(QA, tokenizer, "prompt")


def test_multi_turn_loss_on_every_model_turn(tokenizer):
    chat = Example((Turn("user", "Hi"), Turn("model", "Arr!"), Turn("user", "Bye"), Turn("model", "Ho!")))
    tokenized = tokenize_example(chat, tokenizer)
    assert tokenizer.decode(tokenized.ids[tokenized.loss]) == "Arr!<end_of_turn>\nHo!<end_of_turn>\n"


def test_turn_rejects_unknown_role():
    with pytest.raises(ValueError, match="role"):
        Turn("assistant", "hi")
