"""The Method step says what is wrong beside the field where the value is typed: an absurd learning rate
or batch size blocks Start, doubtful ones are warned about with why, and Max steps shows the epochs it runs."""

from __future__ import annotations

from pathlib import Path

import pytest
from new_run_helpers import hardware, make_wizard

from gemma_jax.config import load_config, validate
from gemma_jax.config.learning_rates import TYPICAL_LEARNING_RATES
from gemma_jax.config.presets import apply_preset
from gemma_jax.cpu_features import BF16_UNITS_OVERRIDE
from ui.state.help_text import help_for

QUICKSTART = Path(__file__).resolve().parents[2] / "configs" / "quickstart.yaml"


def _quickstart(tmp_path, hw=None):
    wizard = make_wizard(tmp_path, hw=hw)
    wizard.config = apply_preset(wizard.config, "quickstart")
    wizard.data.run_check()
    return wizard


def _notes(wizard, path):
    return [(note.level, note.text) for note in wizard.method.notes().get(path, [])]


def test_a_learning_rate_of_50_is_an_error_beside_the_field_and_blocks_start(tmp_path):
    wizard = _quickstart(tmp_path)
    assert _notes(wizard, "optimizer.learning_rate") == [] and wizard.review.problems() == []
    wizard.set("optimizer.learning_rate", 50.0)
    ((level, text),) = _notes(wizard, "optimizer.learning_rate")
    assert level == "error" and text.startswith("50 is far too high") and "1e-4 to 2e-3 is usual for LoRA" in text
    problems = wizard.review.problems()
    assert problems[0].startswith("Learning rate: 50 is far too high")
    assert not any("optimizer." in p for p in problems)  # the page's words, never the config key
    assert wizard.review.start() is None


@pytest.mark.parametrize(
    ("kind", "optimizer", "rate", "says"),
    [
        ("lora", "adamw", 0.05, "is high for LoRA: above about 0.01 training usually diverges"),
        ("lora", "adamw", 5e-7, "is very low: below about 1e-6 the weights barely change"),
        ("full", "adamw", 5e-3, "is high for full fine-tuning: above about 0.001"),
        ("lora", "lion", 5e-3, "is high for LoRA with Lion: above about 0.001"),
    ],
)
def test_doubtful_learning_rates_are_warned_about_not_refused(tmp_path, kind, optimizer, rate, says):
    wizard = _quickstart(tmp_path)
    wizard.set("method.kind", kind)
    wizard.set("optimizer.name", optimizer)
    wizard.set("optimizer.learning_rate", rate)
    ((level, text),) = _notes(wizard, "optimizer.learning_rate")
    assert level == "warning" and says in text
    assert not [p for p in wizard.review.problems() if p.startswith("Learning rate")]


def test_the_learning_rate_help_explains_the_quick_starts_higher_rate():
    text = help_for("optimizer.learning_rate")
    assert "quick start uses 1e-3 for its 30 steps" in text and "only the small adapters train" in text
    assert "For LoRA, 1e-4 to 2e-3 is usual" in text and "(1e-5 to 1e-4)" in text


def test_the_quick_starts_rate_is_inside_the_range_every_hint_gives(tmp_path):
    """validate(), the field note and the help said 1e-5 to 2e-4 while the quick start used 1e-3."""
    quick = load_config(QUICKSTART).optimizer.learning_rate
    low, high = TYPICAL_LEARNING_RATES["lora"]
    assert low <= quick <= high
    wizard = _quickstart(tmp_path)
    assert wizard.config.optimizer.learning_rate == quick and _notes(wizard, "optimizer.learning_rate") == []
    wizard.set("optimizer.learning_rate", 0.0)
    ((_, note),) = _notes(wizard, "optimizer.learning_rate")
    (problem,) = [p for p in validate(wizard.config) if p.startswith("optimizer.learning_rate")]
    for text in (note, problem, help_for("optimizer.learning_rate")):
        assert "1e-4 to 2e-3" in text and "2e-4 (LoRA)" not in text


def test_a_batch_of_100000_is_flagged_at_the_field_with_a_batch_a_person_would_choose(tmp_path):
    wizard = _quickstart(tmp_path, hw=hardware("cpu", host_gib=16))
    wizard.set("train.batch_size", 100000)
    notes = _notes(wizard, "train.batch_size")
    assert notes[0][0] == "error" and "100,000 rows per step need about" in notes[0][1]
    assert "Use 8 rows (suggested for this machine" in notes[0][1]
    assert not any("accumulation" in text for _, text in notes)  # no 100,000 pieces of one row
    assert notes[1][0] == "warning" and "more than the about" in notes[1][1]
    problems = wizard.review.problems()
    assert [p for p in problems if p.startswith("Batch size: 100,000 rows per step need about")]
    assert not [p for p in problems if "grad_accum_steps" in p or "needs about" in p]  # said once, in words
    wizard.method.use_suggested_batch()
    assert wizard.config.train.batch_size == 8 and wizard.review.problems() == []


def test_a_batch_that_does_not_split_into_the_accumulation_pieces_says_which_would(tmp_path):
    wizard = _quickstart(tmp_path)
    wizard.set("train.grad_accum_steps", 4)
    wizard.set("train.batch_size", 10)
    ((level, text),) = _notes(wizard, "train.batch_size")
    assert level == "error" and "use 8 or 12 rows" in text
    assert wizard.review.problems()[0].startswith("Batch size: 10 rows cannot be split into 4 equal pieces")
    wizard.set("train.batch_size", 8)
    assert _notes(wizard, "train.grad_accum_steps") == [("info", "Each step's 8 rows go through in 4 pieces of 2.")]


def test_max_steps_shows_the_epochs_it_runs_and_wins_over_epochs(tmp_path):
    from ui.state.wizard_length import steps_per_epoch

    wizard = _quickstart(tmp_path)
    per_epoch = steps_per_epoch(wizard.config, wizard.data.result)
    epochs = 30 / per_epoch
    assert 1.5 < epochs < 4  # the example data, 8 rows a step: the quick start runs more than one epoch
    ((level, text),) = _notes(wizard, "train.max_steps")
    assert level == "info" and text.startswith(f"= {epochs:.1f} epochs: 30 steps") and "Max steps decides" in text
    ((level, text),) = _notes(wizard, "train.epochs")
    assert level == "warning" and text.startswith(f"Not used: Max steps is set, so the run makes {epochs:.1f} epochs")
    assert wizard.method.epochs() == pytest.approx(epochs)
    wizard.set("train.max_steps", None)
    assert wizard.method.epochs() == 1.0
    ((level, text),) = _notes(wizard, "train.epochs")
    assert level == "info" and text.startswith(f"= about {per_epoch} steps")


def test_invalid_lengths_and_warmup_are_errors_at_their_fields(tmp_path):
    wizard = _quickstart(tmp_path)
    wizard.set("train.max_steps", 0)
    assert _notes(wizard, "train.max_steps")[0][0] == "error"
    wizard.set("train.max_steps", 10)
    wizard.set("schedule.warmup_steps", 20)
    ((level, text),) = _notes(wizard, "schedule.warmup_steps")
    assert level == "warning" and "never reaches its peak" in text


def test_the_method_page_shows_the_notes_under_the_fields(tmp_path):
    from ui.views.wizard_method import MethodView

    wizard = _quickstart(tmp_path)
    view = MethodView(wizard)
    assert not view.notes["optimizer.learning_rate"].visible
    assert "Max steps decides" in view.notes["train.max_steps"].object
    assert "Max steps decides the length" in view.steps_note.object
    wizard.set("optimizer.learning_rate", 50.0)
    note = view.notes["optimizer.learning_rate"]
    assert note.visible and "gj-field-error" in note.object and "50 is far too high" in note.object
    assert view.cells["optimizer.learning_rate"].objects == [view.widgets["optimizer.learning_rate"], note]


def test_small_rates_show_as_typed_and_a_word_is_refused_in_words(tmp_path):
    """A fixed-decimals FloatInput showed a learning rate of 1e-7 (and Adam's eps, 1e-8) as 0."""
    from ui.views.wizard_fields import field_widget

    wizard = _quickstart(tmp_path)
    rate = field_widget(wizard, "optimizer.learning_rate")
    assert rate.value == "0.001"
    wizard.set("optimizer.learning_rate", 1e-7)
    assert rate.value == "1e-7"
    assert field_widget(wizard, "optimizer.eps").value == "1e-8"
    rate.value = "2E-5"  # what a person types
    assert wizard.config.optimizer.learning_rate == 2e-5 and rate.value == "2e-5"  # as the config holds it
    rate.value = "fast"
    assert wizard.config.optimizer.learning_rate == 2e-5 and rate.value == "2e-5"  # the kept value shown again
    _, level, text = wizard.session.notifications[-1]
    assert level == "error" and text == "Learning rate: type a number such as 0.001 or 2e-4 (got 'fast')"
    clip = field_widget(wizard, "optimizer.max_grad_norm")  # optional: empty turns clipping off
    clip.value = ""
    assert wizard.config.optimizer.max_grad_norm is None
    clip.value = "0.5"
    assert wizard.config.optimizer.max_grad_norm == 0.5


def test_remat_offers_auto_yes_and_no_and_auto_is_the_default(tmp_path):
    from ui.views.wizard_fields import field_widget

    wizard = _quickstart(tmp_path)
    remat = field_widget(wizard, "model.remat")
    assert remat.options == ["auto", "yes", "no"]
    assert wizard.config.model.remat is None and remat.value == "auto"  # shown as a word, not an empty box
    remat.value = "yes"
    assert wizard.config.model.remat is True
    remat.value = "auto"
    assert wizard.config.model.remat is None
    wizard.set("model.remat", False)
    assert remat.value == "no"


@pytest.mark.parametrize(
    ("hw", "bf16_units", "said"),
    [
        ("cpu", "0", "Auto trains in float32 here: this CPU has no bf16 units"),
        ("cpu", "1", "Auto trains in bfloat16 here: this CPU has bf16 units (AMX or AVX512-BF16)"),
        ("gpu", "0", "Auto trains in bfloat16 here: the GPU's matmul units"),
    ],
)
def test_precision_auto_says_what_it_picks_on_this_machine(tmp_path, monkeypatch, hw, bf16_units, said):
    monkeypatch.setenv(BF16_UNITS_OVERRIDE, bf16_units)
    wizard = _quickstart(tmp_path, hw=hardware(hw, per_device_gib=80 if hw == "gpu" else None))
    ((level, text),) = _notes(wizard, "model.dtype")
    assert level == "info" and text.startswith(said)
    wizard.set("model.dtype", "float32")
    assert _notes(wizard, "model.dtype") == []  # a chosen precision needs no explaining


def test_every_value_the_engine_refuses_is_an_error_beside_its_field_on_data_and_method(tmp_path):
    from ui.views.wizard_data import DataView
    from ui.views.wizard_method import MethodView

    wizard = _quickstart(tmp_path)
    data, method = DataView(wizard), MethodView(wizard)
    for path, value in [
        ("method.lora_rank", -3),
        ("data.validation_fraction", 1.5),
        ("data.sequence_length", 10**7),
        ("train.max_steps", 0),
    ]:
        wizard.set(path, value)
    assert _notes(wizard, "method.lora_rank") == [
        ("error", "LoRA rank must be at least 1, got -3; typical values are 4 to 64")
    ]
    assert _notes(wizard, "train.max_steps")[0][1].endswith("or leave it empty to run Epochs over the data")
    for path in ("data.validation_fraction", "data.sequence_length"):
        note = data.fields.notes[path]
        assert note.visible and "gj-field-error" in note.object, path
    assert "context length" in data.fields.notes["data.sequence_length"].object
    assert method.notes["method.lora_rank"].visible
    assert method.steps_note.object == "The run's length is shown once the values above are usable."
    problems = wizard.review.problems()
    assert "LoRA rank must be at least 1, got -3; typical values are 4 to 64" in problems  # said once, not twice
    assert not any("lora_rank" in p or "null" in p for p in problems)
