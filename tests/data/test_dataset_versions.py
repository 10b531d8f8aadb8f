"""Dataset versions on gs:// (a real local Cloud Storage emulator): push, list, read back, interrupted uploads."""

import json

import pytest

from gemma_jax.cli import main
from gemma_jax.config.job_config import DataConfig
from gemma_jax.data import versions as versions_module
from gemma_jax.data.errors import DataError
from gemma_jax.data.readers import read_examples
from gemma_jax.data.versions import MANIFEST, push, versions

ROOT = "gs://team-data/datasets"


@pytest.fixture
def bucket(gcs):
    return gcs.client.create_bucket("team-data")


def write(path, rows):
    path.write_text("".join(json.dumps({"prompt": p, "response": r}) + "\n" for p, r in rows), encoding="utf-8")
    return path


def test_push_list_and_train_from_a_version(bucket, tmp_path, capsys):
    first = write(tmp_path / "support.jsonl", [("hi", "hello"), ("bye", "goodbye")])
    v1 = push(first, ROOT)
    assert v1.name == "support" and v1.version.startswith("v-") and v1.url == f"{ROOT}/support/{v1.version}"
    assert push(first, ROOT) == v1  # the same bytes: the same version, nothing uploaded again
    write(first, [("hi", "hello"), ("bye", "goodbye"), ("thanks", "you're welcome")])
    v2 = push(first, ROOT)
    assert v2.version != v1.version and v2.sha256 != v1.sha256
    assert [v.version for v in versions(ROOT, "support")] == [v1.version, v2.version]
    # Each version still holds its own bytes; the manifest is not read as data.
    assert [e.prompt for e in read_examples(v1.url, DataConfig())] == ["hi", "bye"]
    assert len(read_examples(v2.url, DataConfig())) == 3

    assert main(["data", "versions", ROOT, "support", "--json"]) == 0
    listed = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [v["url"] for v in listed] == [v1.url, v2.url]
    assert main(["data", "versions", ROOT, "support"]) == 0
    assert "2 versions" in (out := capsys.readouterr().out) and "/month (standard, list price) at rest" in out
    assert main(["data", "push", str(first), "--to", ROOT, "--name", "other"]) == 0
    assert f"data.train_path={ROOT}/other/{v2.version}" in capsys.readouterr().out


def test_an_interrupted_upload_leaves_no_version(bucket, tmp_path, monkeypatch):
    data = write(tmp_path / "qa.jsonl", [("a", "b")])

    def killed(*args, **kwargs):  # the process dies after the data file, before the manifest
        raise KeyboardInterrupt

    with monkeypatch.context() as patch:
        patch.setattr(versions_module, "_write_manifest", killed)
        with pytest.raises(KeyboardInterrupt):
            push(data, ROOT)
    assert any(b.name.endswith("/qa.jsonl") for b in bucket.list_blobs(prefix="datasets/qa/"))  # the leftover
    assert versions(ROOT, "qa") == []  # ...is not a version
    version = push(data, ROOT)  # pushing again completes it
    assert [v.version for v in versions(ROOT, "qa")] == [version.version]
    assert bucket.get_blob(f"datasets/qa/{version.version}/{MANIFEST}") is not None


def test_bad_names_and_missing_files_are_clear(bucket, tmp_path, capsys):
    with pytest.raises(DataError, match="not a data file"):
        push(tmp_path / "missing.jsonl", ROOT)
    with pytest.raises(DataError, match="not usable"):
        push(write(tmp_path / "x.jsonl", [("a", "b")]), ROOT, name="../escape")
    assert main(["data", "push", str(tmp_path / "x.jsonl"), "--to", "gs://no-such-bucket/d"]) == 2
    assert "bucket does not exist" in capsys.readouterr().err
