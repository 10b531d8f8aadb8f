"""A run on Cloud Storage (a real local emulator): data read from gs://, Orbax checkpoints written to and
restored from gs:// directly, the dashboard's picker listing them, and credentials checked before any work."""

import json
import time
from dataclasses import replace

import gcsfs
import pytest
from engine_helpers import fast_config

from gemma_jax.cli import main
from gemma_jax.cloud_storage import CloudStorageError
from gemma_jax.data.readers import EXAMPLE_TRAIN_FILE
from gemma_jax.runs.run_store import RunStore
from gemma_jax.train.run_model import load_run_model
from gemma_jax.train.trainer import train_run
from ui.state.checkpoint_picker import checkpoint_steps

RUN = ("train.max_steps=3", "checkpoint.every_steps=2", "data.sequence_length=64", "optimizer.learning_rate=3e-3")


def losses(store: RunStore) -> dict[int, float]:
    rows = [json.loads(line) for line in store.metrics_path.read_text().splitlines()]
    return {row["step"]: row["loss"] for row in rows if "loss" in row and "event" not in row}


@pytest.fixture
def bucket(gcs):
    bucket = gcs.client.create_bucket("team-runs")
    lines = EXAMPLE_TRAIN_FILE.read_text(encoding="utf-8").splitlines(keepends=True)
    half = len(lines) // 2
    bucket.blob("data/pirate/part-0000.jsonl").upload_from_string("".join(lines[:half]))
    bucket.blob("data/pirate/part-0001.jsonl").upload_from_string("".join(lines[half:]))
    return bucket


@pytest.mark.slow
def test_gs_data_and_checkpoints_train_resume_and_list(bucket, tmp_path, monkeypatch):
    local = RunStore.create(fast_config(tmp_path / "a", *RUN, f"data.train_path={EXAMPLE_TRAIN_FILE}"), run_id="local")
    assert train_run(str(local.path), progress=False) == "completed", local.read_status()

    remote_cfg = fast_config(
        tmp_path / "b", *RUN, "data.train_path=gs://team-runs/data/pirate", "checkpoint.directory=gs://team-runs/ckpt"
    )
    remote = RunStore.create(remote_cfg, run_id="remote")
    assert train_run(str(remote.path), progress=False) == "completed", remote.log_path.read_text()[-3000:]
    # Same data (two objects under a prefix = the one file), same steps, same losses.
    assert losses(remote) == pytest.approx(losses(local), abs=1e-6)
    assert not any((remote.path / "checkpoints").iterdir())  # nothing written locally
    names = {b.name.split("/")[1] for b in bucket.list_blobs(prefix="ckpt/")}
    assert {"2", "3"} <= names
    assert checkpoint_steps(remote.path) == [3, 2]
    assert load_run_model(str(remote.path))[1] == 3  # restored from gs://
    # The run's small files were copied beside the checkpoints: what the weights are outlives the VM.
    copied = json.loads(bucket.blob("ckpt/_run/status.json").download_as_bytes())
    assert copied["state"] == "completed" and copied["step"] == 3
    assert bucket.blob("ckpt/_run/metrics.jsonl").download_as_bytes() == remote.metrics_path.read_bytes()
    assert bucket.get_blob("ckpt/_run/config.yaml") is not None

    # Step 3 lost: the resume restores step 2 from gs:// and trains step 3 again, to the same loss.
    for blob in list(bucket.list_blobs(prefix="ckpt/3/")):
        blob.delete()
    for filesystem in list(gcsfs.GCSFileSystem._cache.values()):  # as a new process would list it (gcsfs
        filesystem.invalidate_cache()  # caches listings)
    remote.update_status(state="failed")
    assert train_run(str(remote.path), progress=False) == "completed", remote.read_status()
    log = remote.log_path.read_text()
    assert "resumed from checkpoint step 2" in log and "cannot be read" not in log
    assert checkpoint_steps(remote.path) == [3, 2]
    assert losses(remote)[3] == pytest.approx(losses(local)[3], abs=1e-6)

    # A new machine (a preempted Spot VM's successor): the run directory comes back from the copy.
    new_vm = tmp_path / "new-vm"
    new_vm.mkdir()
    monkeypatch.chdir(new_vm)
    assert main(["train", "--resume", "gs://team-runs/ckpt", "--no-progress"]) == 0
    restored = RunStore.open(str(new_vm / "runs" / "remote"))
    assert restored.read_status()["state"] == "completed" and losses(restored) == losses(remote)
    assert restored.config() == remote.config()


def test_a_wrong_credential_fails_before_the_model_loads(bucket, tmp_path, monkeypatch):
    monkeypatch.delenv("STORAGE_EMULATOR_HOST")
    key = tmp_path / "key.json"
    key.write_text('{"type": "service_account", "client_email": "x"}')  # malformed: no private key
    monkeypatch.setenv("GOOGLE_APPLICATION_CREDENTIALS", str(key))
    cfg = fast_config(tmp_path, *RUN, "checkpoint.directory=gs://team-runs/ckpt")
    store = RunStore.create(replace(cfg, model=replace(cfg.model, source="gemma3_270m")), run_id="creds")
    start = time.monotonic()
    assert train_run(str(store.path), progress=False) == "failed"
    assert time.monotonic() - start < 30
    status = store.read_status()
    assert "credentials" in status["error"] and "GOOGLE_APPLICATION_CREDENTIALS" in status["error"]
    assert "loading model" not in store.log_path.read_text()
    assert str(key.read_text()) not in store.log_path.read_text()
    with pytest.raises(CloudStorageError):
        from gemma_jax.cloud_storage import check_access

        check_access("gs://team-runs/ckpt")


def test_eval_reports_join_the_copy_and_big_files_stay_local(bucket, tmp_path, monkeypatch):
    from gemma_jax.runs import remote_copy

    run = tmp_path / "run"
    (run / "eval" / "step-3-validation").mkdir(parents=True)
    (run / "eval" / "step-3-validation" / "report.json").write_text('{"step": 3}')
    (run / "eval" / "step-3-validation" / "attention.npz").write_bytes(b"x" * 100)  # not a report: stays
    (run / "status.json").write_text('{"state": "completed"}')
    (run / "log.txt").write_text("x" * 2000)
    monkeypatch.setattr(remote_copy, "MAX_FILE_BYTES", 1000)
    assert remote_copy.remote_copy_url(str(tmp_path)) is None
    url = remote_copy.remote_copy_url("gs://team-runs/job/ckpt/")
    assert url == "gs://team-runs/job/ckpt/_run"
    assert remote_copy.copy_run_files(run, url) == 2
    names = sorted(b.name for b in bucket.list_blobs(prefix="job/ckpt/_run/"))
    assert names == [f"job/ckpt/_run/{n}" for n in ("eval/step-3-validation/report.json", "run.json", "status.json")]
    with pytest.raises(CloudStorageError, match="bucket does not exist"):
        remote_copy.copy_run_files(run, "gs://no-such-bucket/ckpt/_run")
    with pytest.raises(CloudStorageError, match="holds no copy of a run"):
        remote_copy.restore_run_dir("gs://team-runs/job/ckpt", tmp_path / "runs")  # no config.yaml in the copy
