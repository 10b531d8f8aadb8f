"""The wizard's Model step: the picker, the architecture table and the memory check on given hardware."""

from __future__ import annotations

from new_run_helpers import hardware, make_wizard

from ui.state.wizard_model import model_choices


def test_built_in_model_first_then_the_toy_models():
    sources = [choice.source for choice in model_choices()]
    assert sources[:3] == ["gemma3_270m", "tiny:gemma3", "tiny:gemma"]
    assert "built in" in model_choices()[0].label and "parameters" in model_choices()[0].label
    assert len(sources) == len(set(sources)) > 10


def test_architecture_names_the_lora_layers(tmp_path):
    wizard = make_wizard(tmp_path)
    wizard.model.choose("gemma3_270m")
    wizard.set("method.lora_targets", ["query", "key", "value"])
    rows = dict(wizard.model.architecture())
    assert rows["layers"] == "18" and rows["key/value heads"] == "1" and rows["context length"] == "32,768 tokens"
    assert rows["trained"] == "LoRA rank 8 on query, key, value in each of the 18 layers"
    assert "trainable parameters" in rows
    wizard.set("method.kind", "full")
    assert dict(wizard.model.architecture())["trained"] == "every weight"
    wizard.model.choose("/no/such/preset")
    assert wizard.model.architecture() == [] and wizard.model.estimate() is None
    assert wizard.model.describe_topologies() == ""


def test_memory_check_warns_with_fixes_when_the_job_does_not_fit(tmp_path):
    small_gpu = hardware("gpu", per_device_gib=8, host_gib=32)
    wizard = make_wizard(tmp_path, hw=small_gpu)
    wizard.model.choose("gemma3_1b")
    wizard.set("method.kind", "full")
    wizard.set("data.sequence_length", 1024)
    wizard.set("model.remat", False)  # auto would count on it already, and not name it as a fix
    warnings = wizard.model.warnings()
    assert warnings and "needs about" in warnings[0] and "To fit" in warnings[0]
    # the fixes in the page's words: the labels of the fields to change, not config keys
    assert "Recompute activations (remat) on" in warnings[0] and "Method lora" in warnings[0]
    assert "Sequence length (now 1024)" in warnings[-1]
    assert not any("model.remat" in w or "data.sequence_length" in w for w in warnings)
    assert wizard.model.estimate()["fits"] is False
    assert "does NOT fit" in wizard.model.describe_memory()
    where = wizard.model.describe_topologies()  # where the job does fit instead
    assert "fits v5p-8" in where or "v5p-8 (" in where.split("; too big")[0]
    assert "1xH100 (" in where and "estimated from CPU measurements" in where
    assert any("needs about" in p for p in wizard.review.problems())  # Start is refused too

    wizard.set("method.kind", "qlora")
    wizard.set("model.remat", True)
    assert wizard.model.warnings() == []
    batch = wizard.model.suggested_batch_size()
    assert batch is not None and batch >= 1
    assert wizard.method.use_suggested_batch() == batch == wizard.config.train.batch_size


def test_no_batch_suggested_when_nothing_fits(tmp_path):
    wizard = make_wizard(tmp_path, hw=hardware("gpu", per_device_gib=0.5))
    wizard.model.choose("gemma3_12b_text")
    assert wizard.model.suggested_batch_size() is None
    assert wizard.method.use_suggested_batch() is None


def test_on_a_cpu_the_suggested_batch_is_small_and_says_why(tmp_path):
    wizard = make_wizard(tmp_path, hw=hardware("cpu", host_gib=32))
    wizard.model.choose("gemma3_270m")
    wizard.set("data.sequence_length", 128)
    largest = wizard.model.suggested_batch_size()
    advice = wizard.model.batch_advice()
    assert largest >= 32 and advice.largest == largest
    assert (
        advice.size == 8
        and "On a CPU" in advice.reason
        and f"the most that fits in memory is {largest}" in advice.reason
    )
    wizard.set("train.batch_size", 32)
    assert wizard.method.use_suggested_batch() == 8 == wizard.config.train.batch_size
    wizard.set("train.grad_accum_steps", 16)  # the batch must split into the pieces: the smallest that does
    assert wizard.model.batch_advice().size == 16


def test_on_a_gpu_the_suggested_batch_is_the_largest_that_fits_but_not_more_than_the_data(tmp_path):
    wizard = make_wizard(tmp_path, hw=hardware("gpu", per_device_gib=80, host_gib=64))
    wizard.model.choose("gemma3_270m")
    advice = wizard.model.batch_advice()
    assert advice.size == advice.largest == wizard.model.suggested_batch_size() and "bigger batch" in advice.reason
    wizard.data.upload("small.jsonl", b"".join(b'{"prompt": "q%d", "response": "a"}\n' % i for i in range(40)))
    wizard.data.run_check()
    capped = wizard.model.batch_advice()
    assert capped.size < advice.largest and capped.size <= 40 and "would repeat examples" in capped.reason


def test_the_model_page_shows_the_trained_layers_whole_and_the_suggestion(tmp_path):
    from ui.views.wizard_model import ModelView

    wizard = make_wizard(tmp_path, hw=hardware("cpu", host_gib=32))
    wizard.model.choose("gemma3_270m")
    wizard.set("method.lora_targets", ["query", "key", "value", "attention_output", "ffw_gating", "ffw_linear"])
    view = ModelView(wizard)
    details = view._details(wizard.config)
    trained = dict(wizard.model.architecture())["trained"]
    html = details.objects[0].object
    assert "gj-architecture-table" in html and "overflow-wrap:anywhere" in html
    assert trained.replace(", ", ",") in html.replace("&#44;", ",").replace(", ", ",")
    advice = details.objects[-1].object
    assert "Suggested batch size: <b>8</b>" in advice and view.suggest.label == "Use the suggested batch size (8)"


def test_on_a_cpu_the_suggestion_never_exceeds_what_the_method_step_accepts(tmp_path):
    """Eight short examples (a few packed rows): the Model step suggests fewer rows than the 8 it suggests for
    a CPU otherwise, and the Method step has no warning for it."""
    from new_run_helpers import make_wizard

    wizard = make_wizard(tmp_path)
    data = tmp_path / "seven.jsonl"
    data.write_text("".join(f'{{"prompt": "q{i}", "response": "a{i}"}}\n' for i in range(8)))
    wizard.set("data.train_path", str(data))
    wizard.set("data.validation_fraction", 0.1)
    assert wizard.data.run_check().ok
    advice = wizard.model.batch_advice()
    assert advice.size < 8 and "an epoch of your data fills" in advice.reason
    wizard.method.use_suggested_batch()
    assert not [n for n in wizard.method.notes().get("train.batch_size", []) if n.level != "info"]
