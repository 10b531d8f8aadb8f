"""Data on gs:// (a real local Cloud Storage emulator): one object or a prefix, read as a stream."""

import io
import json

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from gemma_jax.config.job_config import DataConfig
from gemma_jax.data import gcs_data
from gemma_jax.data.errors import DataError
from gemma_jax.data.readers import read_examples
from gemma_jax.export.lineage import dataset_hash

ROWS = [{"prompt": f"question {i}", "response": f"answer {i}"} for i in range(30)]


def jsonl(rows) -> str:
    return "".join(json.dumps(r) + "\n" for r in rows)


@pytest.fixture
def bucket(gcs):
    return gcs.client.create_bucket("training-data")


def test_one_object_is_streamed_in_chunks(bucket, monkeypatch):
    bucket.blob("sets/qa.jsonl").upload_from_string(jsonl(ROWS))
    monkeypatch.setattr(gcs_data, "_CHUNK_BYTES", 256)  # many ranged reads, none of the whole file
    reads = []
    original = gcs_data.GcsFile.open

    def counting_open(self, *args, **kwargs):
        stream = original(self, *args, **kwargs)
        reads.append(stream)
        return stream

    monkeypatch.setattr(gcs_data.GcsFile, "open", counting_open)
    examples = read_examples("gs://training-data/sets/qa.jsonl", DataConfig())
    assert [(e.prompt, e.response) for e in examples] == [(r["prompt"], r["response"]) for r in ROWS]
    raw = reads[0] if not isinstance(reads[0], io.TextIOWrapper) else reads[0].buffer
    assert raw._chunk_size == 256  # google-cloud-storage's BlobReader: ranged requests of that size


def test_a_prefix_is_its_objects_in_name_order_and_problems_name_the_object(bucket):
    bucket.blob("parts/part-0001.jsonl").upload_from_string(jsonl(ROWS[10:20]) + "not json\n")
    bucket.blob("parts/part-0000.jsonl").upload_from_string(jsonl(ROWS[:10]))
    bucket.blob("parts/part-0002.jsonl").upload_from_string(jsonl(ROWS[20:]))
    bucket.blob("parts-old/part-0000.jsonl").upload_from_string(jsonl(ROWS[:1]))  # a sibling, not inside
    with pytest.raises(DataError) as caught:
        read_examples("gs://training-data/parts", DataConfig())
    assert "line 11 (in part-0001.jsonl)" in str(caught.value)
    bucket.blob("parts/part-0001.jsonl").upload_from_string(jsonl(ROWS[10:20]))
    examples = read_examples("gs://training-data/parts/", DataConfig())
    assert [e.prompt for e in examples] == [r["prompt"] for r in ROWS]


def test_parquet_and_csv_on_gcs(bucket, tmp_path):
    table = pa.table({"prompt": [r["prompt"] for r in ROWS], "response": [r["response"] for r in ROWS]})
    pq.write_table(table, tmp_path / "qa.parquet")
    bucket.blob("qa.parquet").upload_from_filename(str(tmp_path / "qa.parquet"))
    bucket.blob("qa.csv").upload_from_string(
        "prompt,response\n" + "".join(f"{r['prompt']},{r['response']}\n" for r in ROWS)
    )
    for name in ("qa.parquet", "qa.csv"):
        examples = read_examples(f"gs://training-data/{name}", DataConfig())
        assert [e.response for e in examples] == [r["response"] for r in ROWS]


def test_missing_data_mixed_formats_and_missing_bucket_are_clear(bucket):
    with pytest.raises(DataError, match="neither an object nor a folder"):
        read_examples("gs://training-data/nothing/here.jsonl", DataConfig())
    with pytest.raises(DataError, match="bucket does not exist"):
        read_examples("gs://no-such-bucket/qa.jsonl", DataConfig())
    bucket.blob("mixed/a.jsonl").upload_from_string(jsonl(ROWS[:2]))
    bucket.blob("mixed/b.csv").upload_from_string("prompt,response\na,b\n")
    with pytest.raises(DataError, match="several formats"):
        read_examples("gs://training-data/mixed", DataConfig())


def test_dataset_hash_follows_the_content_not_the_name(bucket):
    bucket.blob("a/qa.jsonl").upload_from_string(jsonl(ROWS))
    first = dataset_hash(DataConfig(train_path="gs://training-data/a/qa.jsonl"))
    assert first == dataset_hash(DataConfig(train_path="gs://training-data/a/qa.jsonl"))
    bucket.blob("a/qa.jsonl").upload_from_string(jsonl(ROWS[:-1]))
    assert dataset_hash(DataConfig(train_path="gs://training-data/a/qa.jsonl")) != first


def test_no_credentials_is_a_clear_error_before_reading(monkeypatch, tmp_path):
    monkeypatch.delenv("STORAGE_EMULATOR_HOST", raising=False)
    monkeypatch.setenv("GOOGLE_APPLICATION_CREDENTIALS", str(tmp_path / "missing-key.json"))
    with pytest.raises(DataError, match="no usable Google Cloud credentials.*GOOGLE_APPLICATION_CREDENTIALS"):
        read_examples("gs://training-data/qa.jsonl", DataConfig())
