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
