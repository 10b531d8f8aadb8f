"""What runs and datasets take on disk and on Cloud Storage (a real local emulator), and the monthly cost."""

import pytest

from gemma_jax.config.job_config import JobConfig
from gemma_jax.config.overrides import apply_overrides
from gemma_jax.runs import RunStore
from gemma_jax.runs.storage_report import storage_report
from gemma_jax.storage_cost import GIB, LIST_PRICES_USD_PER_GIB_MONTH


def make_run(runs_dir, run_id, *overrides):
    cfg = apply_overrides(JobConfig(runs_dir=str(runs_dir)), ["model.source=tiny:gemma3", *overrides])
    return RunStore.create(cfg, run_id=run_id)


def by_kind(report):
    return {(item.kind, item.name): item for item in report.items}


def test_local_runs_and_uploads_are_counted_and_hidden_partial_uploads_are_not(tmp_path):
    runs, uploads = tmp_path / "runs", tmp_path / "uploads"
    run = make_run(runs, "first")
    (run.path / "checkpoints" / "3").mkdir(parents=True)
    (run.path / "checkpoints" / "3" / "weights").write_bytes(b"x" * 5000)
    uploads.mkdir()
    (uploads / "faq.csv").write_bytes(b"q,a\n" * 100)
    (uploads / ".upload-abc").write_bytes(b"half" * 10)  # an upload still arriving
    (uploads / "valid-rows").mkdir()
    (uploads / "valid-rows" / "faq.jsonl").write_bytes(b"{}\n" * 10)
    (runs / "not-a-run").mkdir()
    elsewhere = make_run(runs, "elsewhere", f"checkpoint.directory={tmp_path / 'big-disk' / 'ckpt'}")
    (tmp_path / "big-disk" / "ckpt" / "7").mkdir(parents=True)
    (tmp_path / "big-disk" / "ckpt" / "7" / "weights").write_bytes(b"y" * 7000)

    report = storage_report(runs, uploads)
    items = by_kind(report)
    assert set(items) == {
        ("run", "first"),
        ("run", "elsewhere"),
        ("checkpoints", "elsewhere"),
        ("dataset", "faq.csv"),
        ("dataset", "valid-rows/faq.jsonl"),
    }
    assert (
        items["checkpoints", "elsewhere"].size_bytes == 7000 and items["checkpoints", "elsewhere"].location == "local"
    )
    run_bytes = sum(p.stat().st_size for p in run.path.rglob("*") if p.is_file())
    assert items["run", "first"].size_bytes == run_bytes >= 5000
    assert items["dataset", "faq.csv"].size_bytes == 400
    assert all(item.location == "local" and item.monthly_usd is None and not item.cost for item in report.items)
    other = items["run", "elsewhere"].size_bytes
    assert report.local_bytes == run_bytes + other + 7000 + 400 + 30
    assert report.cloud_bytes == 0 and report.monthly_usd == 0
    assert elsewhere.path.is_dir()


def test_gs_checkpoints_and_datasets_get_their_size_and_monthly_cost(gcs, tmp_path):
    bucket = gcs.client.create_bucket("team")
    bucket.blob("data/train/part-0.jsonl").upload_from_string(b"a" * 3000)
    bucket.blob("data/train/part-1.jsonl").upload_from_string(b"b" * 2000)
    bucket.blob("data/val.jsonl").upload_from_string(b"c" * 700)
    bucket.blob("ckpt/alpha/1/weights").upload_from_string(b"w" * 9000)
    bucket.blob("ckpt/alphabet/other").upload_from_string(b"not this run's" * 100)
    runs = tmp_path / "runs"
    make_run(
        runs,
        "alpha",
        "data.train_path=gs://team/data/train",
        "data.validation_path=gs://team/data/val.jsonl",
        "checkpoint.directory=gs://team/ckpt/alpha",
        "checkpoint.storage_class=nearline",
    )
    make_run(runs, "beta", "data.train_path=gs://team/data/train", "checkpoint.price_per_gib_month=1.5")

    report = storage_report(runs)
    items = by_kind(report)
    checkpoints = items["checkpoints", "alpha"]
    assert (checkpoints.location, checkpoints.size_bytes) == ("gs://team/ckpt/alpha", 9000)
    assert checkpoints.monthly_usd == pytest.approx(9000 / GIB * LIST_PRICES_USD_PER_GIB_MONTH["nearline"])
    assert "nearline, list price" in checkpoints.cost
    # A dataset two runs read is listed once; a prefix counts every object under it.
    datasets = [item for item in report.items if item.kind == "dataset"]
    assert sorted((d.location, d.size_bytes) for d in datasets) == [
        ("gs://team/data/train", 5000),
        ("gs://team/data/val.jsonl", 700),
    ]
    assert report.cloud_bytes == 9000 + 5000 + 700
    assert report.monthly_usd == pytest.approx(sum(item.monthly_usd for item in report.items if item.monthly_usd))


def test_a_bucket_without_access_is_a_row_with_its_reason_not_a_failed_report(gcs, tmp_path):
    runs = tmp_path / "runs"
    make_run(runs, "lost", "checkpoint.directory=gs://no-such-bucket/ckpt")
    items = by_kind(storage_report(runs))
    lost = items["checkpoints", "lost"]
    assert lost.size_bytes is None and lost.monthly_usd is None
    assert "no-such-bucket" in lost.problem
    assert items["run", "lost"].size_bytes > 0
