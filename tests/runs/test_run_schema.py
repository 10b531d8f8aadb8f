"""A real (tiny) run writes nothing the run directory schema does not name, and the dashboard reads
only names the schema has: hand-written metrics in UI tests cannot drift from what the engine writes."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from gemma_jax.runs import schema
from gemma_jax.runs.run_store import RunStore

sys.path.insert(0, str(Path(__file__).parents[1] / "engine"))

from engine_helpers import fast_config

pytestmark = pytest.mark.slow  # a tiny run, interrupted and resumed, trained once for the module

STEPS = 4
STOP_AT = 2  # aborted here, then resumed: the run writes "aborted", "completed" and a "resumed" event


@pytest.fixture(scope="module")
def run(tmp_path_factory) -> tuple[RunStore, list[dict]]:
    """A tiny run interrupted and resumed, with evaluation, samples and checkpoints on; the states its
    status.json went through."""
    from gemma_jax.train.trainer import Trainer, train_run

    cfg = fast_config(
        tmp_path_factory.mktemp("schema"),
        f"train.max_steps={STEPS}",
        "data.validation_fraction=0.5",
        "eval.every_steps=2",
        "eval.max_batches=1",
        f"eval.sample_every_steps={STEPS}",
        "eval.max_new_tokens=4",
        "checkpoint.every_steps=2",
    )
    store = RunStore.create(cfg)
    statuses = [store.read_status()]
    assert Trainer(store, progress=False, abort_after_step=STOP_AT).run() == schema.State.ABORTED
    statuses.append(store.read_status())
    assert train_run(str(store.path), progress=False) == schema.State.COMPLETED
    statuses.append(store.read_status())
    return store, statuses


def test_the_run_directory_holds_only_named_files_and_folders(run):
    store, _ = run
    files = {p.name for p in store.path.iterdir() if p.is_file()}
    folders = {p.name for p in store.path.iterdir() if p.is_dir()}
    assert files <= set(schema.RUN_FILES), files - set(schema.RUN_FILES)
    assert folders <= set(schema.RUN_DIRS), folders - set(schema.RUN_DIRS)
    assert set(schema.CREATED_FILES) <= files and set(schema.CREATED_DIRS) <= folders
    assert schema.TOKENIZER_FILE in files  # a tiny: model's vocabulary
    assert list(store.events_dir.iterdir()), "TensorBoard scalars"
    assert list(store.checkpoints_dir.iterdir()), "checkpoints"


def test_status_keys_and_states_are_the_schemas(run):
    _, statuses = run
    assert [s[schema.Status.STATE] for s in statuses] == [
        schema.State.QUEUED,
        schema.State.ABORTED,
        schema.State.COMPLETED,
    ]
    for status in statuses:
        assert set(status) <= set(schema.STATUS_KEYS), set(status) - set(schema.STATUS_KEYS)
        assert status[schema.Status.STATE] in schema.STATES
    final = statuses[-1]
    for key in (schema.Status.STEP, schema.Status.LAST_CHECKPOINT_STEP):
        assert final[key] == STEPS
    assert final[schema.Status.BEST_EVAL_LOSS] is not None


def test_metrics_records_use_schema_keys_and_event_kinds(run):
    store, _ = run
    records, _ = store.read_metrics()
    steps = [r for r in records if schema.Event.KEY not in r]
    events = [r for r in records if schema.Event.KEY in r]
    assert steps and events
    for record in records:
        assert set(record) <= set(schema.METRIC_KEYS), set(record) - set(schema.METRIC_KEYS)
    assert {r[schema.Event.KEY] for r in events} <= set(schema.EVENT_KINDS)
    assert [r[schema.Metric.STEP] for r in events] == [STOP_AT]
    written = set().union(*steps)
    assert schema.Metric.EVAL_LOSS in written and schema.Metric.INCLUDES_COMPILE in written
    # raw lines too: the reader skips nothing the writer wrote
    lines = store.metrics_path.read_text(encoding="utf-8").splitlines()
    assert len(lines) == len(records) and all(json.loads(line) for line in lines)


def test_samples_use_schema_keys(run):
    store, _ = run
    samples, _ = store.read_samples()
    assert samples
    for sample in samples:
        assert set(sample) <= set(schema.SAMPLE_KEYS), set(sample) - set(schema.SAMPLE_KEYS)
        assert sample[schema.Sample.MODEL] in schema.SAMPLE_MODELS
    assert {s[schema.Sample.MODEL] for s in samples} == set(schema.SAMPLE_MODELS)  # before step 1, and after


def test_the_dashboard_reads_schema_metric_keys():
    from ui.state.kpis import LATEST_METRICS
    from ui.state.training import EVAL_COLUMNS, TRAIN_COLUMNS

    for columns in (TRAIN_COLUMNS, EVAL_COLUMNS, LATEST_METRICS):
        assert set(columns) <= set(schema.METRIC_KEYS), set(columns) - set(schema.METRIC_KEYS)
    assert set(EVAL_COLUMNS) - {schema.Metric.STEP} <= set(schema.EVAL_METRICS)


def test_the_schema_names_are_distinct():
    for names in (schema.RUN_FILES + schema.RUN_DIRS, schema.STATUS_KEYS, schema.METRIC_KEYS, schema.SAMPLE_KEYS):
        assert len(set(names)) == len(names), names
    assert not set(schema.TRAIN_METRICS) & set(schema.EVAL_METRICS)
    assert schema.eval_folder_name(3, "test") == "step-3-test"
    assert schema.export_folder_name(3, "hf") == "step-3-hf"


def test_the_log_says_whether_activations_are_recomputed_and_why(run):
    store, _ = run
    log = store.log_path.read_text()
    assert "activation recomputation (model.remat) off: auto: off (a step needs about" in log
