"""A copy of a run's small files on gs://, beside its checkpoints, so a run outlives its VM.

When `checkpoint.directory` is a gs:// folder, the weights are already there; what tells a user what
the weights are (config.yaml, status.json, metrics, log, samples, the tiny-model vocabulary) and the
evaluation reports live in the local run directory, which a preempted or deleted VM takes with it.
They are copied to `<checkpoint.directory>/_run/` (Orbax lists only numbered step folders, so it
ignores it) after every checkpoint, at the end of the run and after each evaluation. Files are
small by construction; anything over MAX_FILE_BYTES (a huge log) is left out. A failed copy is a
warning, never a failed run.
"""

from __future__ import annotations

from pathlib import Path

from gemma_jax import cloud_storage

REMOTE_FOLDER = "_run"
SMALL_FILES = ("config.yaml", "status.json", "metrics.jsonl", "log.txt", "samples.jsonl", "tokenizer.model")
EVAL_FILES = ("report.json", "predictions.jsonl")
MAX_FILE_BYTES = 64 * 1024 * 1024


def remote_copy_url(checkpoint_directory: str | None) -> str | None:
    """Where the run's small files are copied, or None for a local checkpoint folder."""
    if not cloud_storage.is_gcs(checkpoint_directory):
        return None
    return f"{checkpoint_directory.rstrip('/')}/{REMOTE_FOLDER}"


def files_to_copy(run_dir: Path) -> list[Path]:
    """The run's small files and its evaluation reports, as they are now."""
    files = [run_dir / name for name in SMALL_FILES]
    eval_dir = run_dir / "eval"
    if eval_dir.is_dir():
        files += [report / name for report in sorted(eval_dir.iterdir()) for name in EVAL_FILES]
    return [f for f in files if f.is_file() and f.stat().st_size <= MAX_FILE_BYTES]


def copy_run_files(run_dir: str | Path, url: str) -> int:
    """Upload the run's small files to `url` (their paths relative to the run kept); the number copied.
    Raises CloudStorageError in the user's words."""
    run_dir = Path(run_dir)
    bucket_name, prefix = cloud_storage.parse_url(url)
    try:
        bucket = cloud_storage.client_for(url, "write to").bucket(bucket_name)
        files = files_to_copy(run_dir)
        for path in files:
            blob = bucket.blob(f"{prefix}/{path.relative_to(run_dir).as_posix()}")
            blob.upload_from_filename(str(path), timeout=(cloud_storage.hub_timeout_s(), 120))
    except Exception as error:  # google-api-core, google-auth and requests types
        raise cloud_storage.user_error(error, url, "write to", "roles/storage.objectCreator") from error
    return len(files)
