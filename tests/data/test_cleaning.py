from __future__ import annotations

import pytest

from gemma_jax.config.job_config import DataConfig
from gemma_jax.data.cleaning import (
    CleaningOptions,
    clean_examples,
    drop_control_chars,
    normalize_unicode,
    normalize_whitespace,
    strip_html,
)
from gemma_jax.data.errors import DataError
from gemma_jax.data.example import Example, Turn
from gemma_jax.data.pipeline import build_datasets

ALL = CleaningOptions(strip_html=True, unicode_form="NFC", drop_control_chars=True, normalize_whitespace=True)


def test_strip_html_keeps_visible_text_and_decodes_entities():
    html = "<p>Hello&nbsp;<b>world</b></p><script>var x = '<p>';</script><!-- note --><p>Fish &amp; chips</p>"
    assert strip_html(html) == "Hello\u00a0world\nFish & chips"
    assert strip_html("<ul><li>one</li><li>two</li></ul>") == "one\ntwo"
    assert strip_html("line<br>next<br/>last") == "line\nnext\nlast"


def test_strip_html_leaves_text_that_only_looks_like_markup():
    assert strip_html("if a < b and c > d then") == "if a < b and c > d then"
    assert strip_html("List<String> and <start_of_turn>user") == "List<String> and <start_of_turn>user"
    assert strip_html("no markup at all") == "no markup at all"


def test_unicode_forms():
    assert normalize_unicode("cafe\u0301") == "caf\u00e9"  # NFC composes
    assert normalize_unicode("\ufb01ne") == "\ufb01ne"  # NFC keeps the ligature
    assert normalize_unicode("\ufb01ne \u2460", "NFKC") == "fine 1"  # NFKC folds compatibility forms


def test_drop_control_chars_keeps_newlines_tabs_and_joiners():
    assert drop_control_chars("\ufeffa\x00b\x1b[0mc\x7f\n\td\r") == "ab[0mc\n\td\r"
    emoji = "\U0001f469\u200d\U0001f4bb"  # woman technologist: a zero-width joiner sequence
    assert drop_control_chars(emoji) == emoji
    assert drop_control_chars("lone \ud800 surrogate") == "lone  surrogate"


def test_normalize_whitespace_keeps_indentation():
    text = "  Hello\u00a0  world  \r\n\r\n\r\n\r\n    indented   code\t\nend   "
    assert normalize_whitespace(text) == "Hello world\n\n    indented code\nend"


def test_clean_examples_counts_each_step_and_keeps_other_fields():
    examples = [
        Example.from_prompt_response("<b>Bold</b> question", "fine", source="f:1"),
        Example.from_prompt_response("cafe\u0301", "ok", source="f:2"),
        Example((Turn("system", "be\x00 nice"), Turn("user", "hi  there"), Turn("model", "yo")), source="f:3"),
        Example.from_prompt_response("already clean", "yes", source="f:4"),
    ]
    cleaned, report = clean_examples(examples, ALL)
    assert [ex.prompt for ex in cleaned] == ["Bold question", "caf\u00e9", "hi there", "already clean"]
    assert cleaned[2].turns[0].text == "be nice" and [ex.source for ex in cleaned] == ["f:1", "f:2", "f:3", "f:4"]
    assert report.changed == {"html": 1, "unicode": 1, "control": 1, "whitespace": 1}
    assert report.examples == 4 and report.changed_any == 3 and report.emptied == []
    assert cleaned[3] is examples[3]


def test_each_step_is_switchable():
    example = Example.from_prompt_response("<i>x</i>\x00  cafe\u0301", "y")
    off = CleaningOptions(strip_html=False, unicode_form=None, drop_control_chars=False, normalize_whitespace=False)
    assert clean_examples([example], off)[0][0] == example
    only_html = CleaningOptions(strip_html=True, unicode_form=None, drop_control_chars=False)
    assert clean_examples([example], only_html)[0][0].prompt == "x\x00  cafe\u0301"
    with pytest.raises(DataError, match="NFC, NFKC or null"):
        CleaningOptions(unicode_form="NFD")


def test_markup_only_turn_is_reported_as_emptied():
    _, report = clean_examples([Example.from_prompt_response("<br><hr>", "answer", source="f:9")], ALL)
    assert report.emptied == ["f:9"]


def test_pipeline_cleans_and_drops_emptied_examples(tokenizer, write):
    rows = [{"prompt": f"<p>Question {i}</p>", "response": f"Answer {i}"} for i in range(6)]
    rows.append({"prompt": "<br>", "response": "lost"})
    path = write("html.jsonl", rows)
    cfg = DataConfig(train_path=path, validation_fraction=0.0, clean_html=True, sequence_length=32)
    ds = build_datasets(cfg, tokenizer, batch_size=2)
    assert all("<p>" not in ex.prompt for ex in ds.train_examples)
    assert ds.stats["cleaning"]["changed"]["html"] == 7
    assert ds.stats["dropped_empty"] == 1 and ds.stats["dropped_empty_sources"] == ["html.jsonl:7"]
    assert ds.stats["train_examples"] == 6
