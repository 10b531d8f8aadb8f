"""gs:// sources against a real local Cloud Storage emulator (gcp-storage-emulator)."""

import os
import socket
import threading
import time
import warnings
from pathlib import Path

import numpy as np
import pytest
from model_fixtures import TEXTS, free_port, keras_logits, save_tiny_preset, tiny_proto, token_ids, write_hf_checkpoint

from gemma_jax.models.loading import ModelLoadError, describe_source, load_model
from gemma_jax.models.sources.gcs import MANIFEST, fetch_gcs

BUCKET = "models"


@pytest.fixture
def emulator(gcs):
    """The shared emulator (tests/conftest.py) with bucket `models`: (server, bucket)."""
    return gcs.server, gcs.client.create_bucket(BUCKET)


def upload_folder(bucket, folder: Path, prefix: str) -> None:
    for path in sorted(folder.rglob("*")):
        if path.is_file():
            bucket.blob(f"{prefix}/{path.relative_to(folder).as_posix()}").upload_from_filename(str(path))


def test_keras_preset_on_gcs(emulator, tmp_path):
    server, bucket = emulator
    model = load_model("tiny:gemma3", vocab_texts=TEXTS)
    upload_folder(bucket, save_tiny_preset(tmp_path / "preset", model), "team/tiny-gemma3")
    source = f"gs://{BUCKET}/team/tiny-gemma3"
    assert describe_source(source) == "gcs"

    loaded = load_model(source)

    assert loaded.source == source and loaded.family == "gemma3"
    for a, b in zip(model.backbone.weights, loaded.backbone.weights):
        np.testing.assert_array_equal(np.asarray(a.value), np.asarray(b.value))
    ids = token_ids(model.tokenizer.proto)
    np.testing.assert_array_equal(keras_logits(loaded, ids), keras_logits(model, ids))

    # The local copy: one folder keyed by the path, complete, no temporary folders left.
    copy = Path(fetch_gcs(source))
    assert copy.parent == tmp_path / "cache" / "gcs" / BUCKET and (copy / MANIFEST).exists()
    assert sorted(p.name for p in copy.parent.iterdir()) == [copy.name]

    # Unchanged objects are not downloaded again; a changed one is.
    stamp = (copy / "model.weights.h5").stat().st_mtime_ns
    time.sleep(0.01)
    assert fetch_gcs(source) == str(copy) and (copy / "model.weights.h5").stat().st_mtime_ns == stamp
    bucket.blob("team/tiny-gemma3/metadata.json").upload_from_string("{}")
    fetch_gcs(source)
    assert (copy / "metadata.json").read_text() == "{}"

    # Offline later: the complete copy is used, with a warning.
    server.stop()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        again = load_model(source)
    assert any("local copy made earlier" in str(w.message) for w in caught)
    np.testing.assert_array_equal(keras_logits(again, ids), keras_logits(model, ids))


def test_hf_checkpoint_on_gcs(emulator, tmp_path):
    _, bucket = emulator
    write_hf_checkpoint(tmp_path / "hf", "gemma", tiny_proto())
    upload_folder(bucket, tmp_path / "hf", "hf/gemma")
    local = load_model(str(tmp_path / "hf"))

    loaded = load_model(f"gs://{BUCKET}/hf/gemma/")  # a trailing slash names the same folder

    ids = token_ids(tiny_proto())
    np.testing.assert_array_equal(keras_logits(loaded, ids), keras_logits(local, ids))


def test_missing_objects_and_single_files(emulator):
    _, bucket = emulator
    with pytest.raises(ModelLoadError, match="holds nothing: no object and no folder"):
        load_model(f"gs://{BUCKET}/no/such/model")
    with pytest.raises(ModelLoadError, match="bucket does not exist"):
        load_model("gs://no-such-bucket/model")
    with pytest.raises(ModelLoadError, match="names no bucket"):
        load_model("gs://")
    bucket.blob("notes/readme.txt").upload_from_string("not a model")
    with pytest.raises(ModelLoadError, match="single file, not a .gguf"):
        load_model(f"gs://{BUCKET}/notes/readme.txt")


def test_missing_credentials_say_what_to_set(monkeypatch, tmp_path):
    monkeypatch.delenv("STORAGE_EMULATOR_HOST", raising=False)
    monkeypatch.setenv("GOOGLE_APPLICATION_CREDENTIALS", str(tmp_path / "missing-key.json"))
    monkeypatch.setenv("CLOUDSDK_CONFIG", str(tmp_path / "gcloud"))
    start = time.monotonic()
    with pytest.raises(ModelLoadError, match="gcloud auth application-default login.*GOOGLE_APPLICATION_CREDENTIALS"):
        load_model("gs://some-bucket/model")
    assert time.monotonic() - start < 20


def test_unreachable_storage_fails_fast(monkeypatch, tmp_path):
    """Credentials present, network absent: no 120 s of retries."""
    key = tmp_path / "adc.json"
    key.write_text('{"type": "authorized_user", "client_id": "x", "client_secret": "y", "refresh_token": "z"}')
    monkeypatch.delenv("STORAGE_EMULATOR_HOST", raising=False)
    monkeypatch.setenv("GOOGLE_APPLICATION_CREDENTIALS", str(key))
    monkeypatch.setenv("GEMMA_JAX_CACHE", str(tmp_path / "cache"))
    start = time.monotonic()
    # Offline (as where this was written) the host does not resolve; online the made-up key is refused.
    with pytest.raises(ModelLoadError, match="Cloud Storage cannot be reached|rejected the credentials"):
        load_model("gs://some-bucket/model")
    assert time.monotonic() - start < 20
    assert not os.path.exists(tmp_path / "cache" / "gcs" / "some-bucket" / "model")
    # Nothing keeps trying in the background (google-cloud-storage's bucket-metadata fetch would, for a minute).
    assert [t.name for t in threading.enumerate() if "_fetch_background" in t.name] == []


def test_stalled_storage_fails_within_the_timeout(monkeypatch, tmp_path):
    """An endpoint that accepts connections and never answers."""
    with socket.socket() as server:
        port = free_port()
        server.bind(("127.0.0.1", port))
        server.listen(16)
        monkeypatch.setenv("STORAGE_EMULATOR_HOST", f"http://127.0.0.1:{port}")
        monkeypatch.setenv("GEMMA_JAX_HUB_TIMEOUT", "1")
        monkeypatch.setenv("GEMMA_JAX_CACHE", str(tmp_path / "cache"))
        start = time.monotonic()
        with pytest.raises(ModelLoadError, match="Cloud Storage cannot be reached"):
            load_model("gs://some-bucket/model")
        assert time.monotonic() - start < 20
