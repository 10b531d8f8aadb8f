"""The Training page's plots wait for a run's first step: empty plots would keep another run's axes."""

from __future__ import annotations

from gemma_jax.runs.schema import Metric
from ui.state.series import SeriesUpdate
from ui.state.training import TRAIN_COLUMNS
from ui.views.training_plots import TrainingPlots


def _rows(steps: list[int]) -> dict[str, list]:
    return {column: [float(s) if column != Metric.STEP else s for s in steps] for column in TRAIN_COLUMNS}


def test_plots_show_from_the_first_step_and_hide_again_for_a_run_without_steps():
    plots = TrainingPlots()
    assert plots._waiting.visible and not plots._plots.visible
    plots.apply({"train": SeriesUpdate("stream", _rows([1]))})
    assert plots._plots.visible and not plots._waiting.visible
    plots.apply({"train": SeriesUpdate("replace", _rows([]))})  # another run, not started yet
    assert plots._waiting.visible and not plots._plots.visible
    plots.apply({"train": SeriesUpdate("replace", _rows([1, 2, 3]))})
    assert plots._plots.visible
