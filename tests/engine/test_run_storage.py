"""storage_bytes: the bytes under a local folder or a gs:// prefix (a real Cloud Storage emulator)."""

import os

import pytest

from gemma_jax.runs import storage_bytes


def test_local_folders_count_every_file_once(tmp_path):
    assert storage_bytes(tmp_path / "missing") == 0  # e.g. a run that has not saved a checkpoint yet
    (tmp_path / "ckpt" / "1" / "trainable").mkdir(parents=True)
    (tmp_path / "ckpt" / "1" / "trainable" / "a").write_bytes(b"x" * 1000)
    (tmp_path / "ckpt" / "meta.json").write_bytes(b"{}")
    os.symlink(tmp_path / "ckpt" / "1" / "trainable" / "a", tmp_path / "ckpt" / "link")
    link_size = os.lstat(tmp_path / "ckpt" / "link").st_size  # the link itself, not its target again
    assert storage_bytes(tmp_path / "ckpt") == 1002 + link_size
    assert storage_bytes(str(tmp_path / "ckpt" / "meta.json")) == 2


@pytest.fixture
def bucket(gcs):
    """Bucket `runs` on the shared Cloud Storage emulator (tests/conftest.py)."""
    return gcs.client.create_bucket("runs")


def test_gcs_prefixes(bucket):
    for name, size in (("job/checkpoints/1/a", 300), ("job/checkpoints/2/a", 200), ("job/checkpoints-old/x", 50)):
        bucket.blob(name).upload_from_string(b"x" * size)
    assert storage_bytes("gs://runs/job/checkpoints") == 500  # a folder: not the checkpoints-old sibling
    assert storage_bytes("gs://runs/job/checkpoints/") == 500
    assert storage_bytes("gs://runs") == 550
    assert storage_bytes("gs://runs/nothing-here") == 0
    with pytest.raises(ValueError, match="names no bucket"):
        storage_bytes("gs://")
    with pytest.raises(OSError, match="cannot measure gs://no-such-bucket"):
        storage_bytes("gs://no-such-bucket/x")


def test_monthly_cost_from_list_prices_or_the_configured_price():
    from gemma_jax.storage_cost import GIB, LIST_PRICES_USD_PER_GIB_MONTH, cost_note, monthly_cost

    assert monthly_cost(10 * GIB) == pytest.approx(10 * LIST_PRICES_USD_PER_GIB_MONTH["standard"])
    assert monthly_cost(10 * GIB, "archive") < monthly_cost(10 * GIB, "coldline") < monthly_cost(10 * GIB)
    assert monthly_cost(2 * GIB, "standard", 0.5) == pytest.approx(1.0)
    assert cost_note(2 * GIB, "nearline", 0.5) == "~$1.00/month (nearline, your price)"
    assert cost_note(1024) == "~$<0.01/month (standard, list price)"
    assert cost_note(None) == ""


def test_storage_class_and_price_are_validated():
    from gemma_jax.config import JobConfig, apply_overrides, validate

    cfg = apply_overrides(JobConfig(), ["checkpoint.storage_class=glacier", "checkpoint.price_per_gib_month=-1"])
    problems = " ".join(validate(cfg))
    assert "checkpoint.storage_class must be one of standard | nearline | coldline | archive" in problems
    assert "checkpoint.price_per_gib_month must be at least 0" in problems


def test_a_remote_runs_dir_is_refused_with_the_way_to_keep_runs_on_gcs():
    from gemma_jax.config import JobConfig, apply_overrides, validate

    problems = validate(apply_overrides(JobConfig(), ["runs_dir=gs://team/runs"]))
    assert any("runs_dir must be a folder on this machine" in p and "checkpoint.directory" in p for p in problems)
