"""A copy of a run's small files on gs://, beside its checkpoints, so a run outlives its VM.

When `checkpoint.directory` is a gs:// folder, the weights are already there; what tells a user what
the weights are (config.yaml, status.json, metrics, log, samples, the tiny-model vocabulary) and the
evaluation reports live in the local run directory, which a preempted or deleted VM takes with it.
They are copied to `<checkpoint.directory>/_run/` (Orbax lists only numbered step folders, so it
ignores it) after every checkpoint, at the end of the run and after each evaluation. Files are
small by construction; anything over MAX_FILE_BYTES (a huge log) is left out. A failed copy is a
warning, never a failed run.

`restore_run_dir` is the way back: on a new machine (a preempted Spot TPU VM's successor), `gemma-jax
train --resume gs://.../checkpoints` rebuilds the run directory from the copy and resumes it from the
checkpoints beside it.
"""

from __future__ import annotations

import json
import shutil
import tempfile
from pathlib import Path

from gemma_jax import cloud_storage
from gemma_jax.cloud_storage import CloudStorageError
from gemma_jax.runs import schema
from gemma_jax.runs.run_store import RunStore

REMOTE_FOLDER = "_run"
SMALL_FILES = (
    schema.CONFIG_FILE,
    schema.STATUS_FILE,
    schema.METRICS_FILE,
    schema.LOG_FILE,
    schema.SAMPLES_FILE,
    schema.TOKENIZER_FILE,
)
EVAL_FILES = (schema.EVAL_REPORT_FILE, schema.EVAL_PREDICTIONS_FILE)
MAX_FILE_BYTES = 64 * 1024 * 1024
RUN_NAME_FILE = "run.json"  # {"name": the run directory's name}, so a restored copy gets the same name


def remote_copy_url(checkpoint_directory: str | None) -> str | None:
    """Where the run's small files are copied, or None for a local checkpoint folder."""
    if not cloud_storage.is_gcs(checkpoint_directory):
        return None
    return f"{checkpoint_directory.rstrip('/')}/{REMOTE_FOLDER}"


def files_to_copy(run_dir: Path) -> list[Path]:
    """The run's small files and its evaluation reports, as they are now."""
    files = [run_dir / name for name in SMALL_FILES]
    eval_dir = RunStore(run_dir).eval_dir
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
        bucket.blob(f"{prefix}/{RUN_NAME_FILE}").upload_from_string(json.dumps({"name": run_dir.name}))
    except Exception as error:  # google-api-core, google-auth and requests types
        raise cloud_storage.user_error(error, url, "write to", "roles/storage.objectCreator") from error
    return len(files)


def refresh_remote_copy(store: RunStore, checkpoint_directory: str | None) -> None:
    """With gs:// checkpoints, refresh the copy of the run's small files beside them; a failure is logged
    as a warning (the checkpoints themselves are safe), never raised into training."""
    url = remote_copy_url(checkpoint_directory)
    if url is None:
        return
    try:
        copy_run_files(store.path, url)
    except CloudStorageError as error:
        store.log(f"the run's files were not copied to {url}: {error}", level="WARNING")


def restore_run_dir(checkpoint_url: str, runs_dir: str | Path) -> Path:
    """The local run directory of the run whose checkpoints are at `checkpoint_url`: runs_dir/<its name>,
    rebuilt from the copy in `_run/` unless it is already there. Raises CloudStorageError."""
    url = remote_copy_url(checkpoint_url)
    blobs, _ = cloud_storage.list_objects(url, "read") if url else ([], False)
    by_name = {blob.name.removeprefix(cloud_storage.parse_url(url)[1] + "/"): blob for blob in blobs}
    if schema.CONFIG_FILE not in by_name or RUN_NAME_FILE not in by_name:
        raise CloudStorageError(
            f"{checkpoint_url} holds no copy of a run ({REMOTE_FOLDER}/{schema.CONFIG_FILE}); resume from gs:// works for runs "
            "trained with checkpoint.directory on gs://, which copy their files there"
        )
    try:
        name = json.loads(by_name[RUN_NAME_FILE].download_as_bytes())["name"]
        target = Path(runs_dir).expanduser() / Path(name).name
        if RunStore(target).config_path.is_file():
            return target
        target.parent.mkdir(parents=True, exist_ok=True)
        temp = Path(tempfile.mkdtemp(prefix=f".restoring-{target.name}-", dir=target.parent))
        try:
            for relative, blob in by_name.items():
                destination = (temp / relative).resolve()
                if relative == RUN_NAME_FILE or not destination.is_relative_to(temp.resolve()):
                    continue
                destination.parent.mkdir(parents=True, exist_ok=True)
                blob.download_to_filename(str(destination), timeout=(cloud_storage.hub_timeout_s(), 120))
            for folder in schema.CREATED_DIRS:
                (temp / folder).mkdir(exist_ok=True)
            temp.rename(target)
        finally:
            shutil.rmtree(temp, ignore_errors=True)
    except (CloudStorageError, OSError):
        raise
    except Exception as error:  # google-api-core, google-auth and requests types
        raise cloud_storage.user_error(error, url) from error
    return target
