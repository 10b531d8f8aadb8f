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


def test_memory_check_warns_with_fixes_when_the_job_does_not_fit(tmp_path):
    small_gpu = hardware("gpu", per_device_gib=8, host_gib=32)
    wizard = make_wizard(tmp_path, hw=small_gpu)
    wizard.model.choose("gemma3_1b")
    wizard.set("method.kind", "full")
    wizard.set("data.sequence_length", 1024)
    warnings = wizard.model.warnings()
    assert warnings and "needs about" in warnings[0] and "To fit" in warnings[0]
    assert "model.remat=true" in warnings[0] and "method.kind=lora" in warnings[0]
    assert "data.sequence_length (now 1024)" in warnings[-1]
    assert wizard.model.estimate()["fits"] is False
    assert "does NOT fit" in wizard.model.describe_memory()
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
