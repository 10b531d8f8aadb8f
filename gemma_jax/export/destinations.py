"""Where an export goes besides the run directory: a Cloud Storage prefix, or a Hugging Face Hub repo.

An export is always written (and checked) locally first, then copied. On gs:// the manifest
(`export.json`) is uploaded last: Cloud Storage has no folder rename, so a reader that waits for
the manifest never sees a half-copied export. Pushing to the Hub uses `huggingface_hub.upload_folder`
with the token from the usual places (HF_TOKEN, `hf auth login`); the token is never printed. Both
check that the service answers first, so an offline machine fails in seconds with what to do.
"""

from __future__ import annotations

import os
from pathlib import Path

from gemma_jax import cloud_storage
from gemma_jax.export.listing import MANIFEST
from gemma_jax.models.sources.connectivity import require_reachable
from gemma_jax.models.sources.errors import ModelLoadError


def hub_url() -> str:
    """The Hub huggingface_hub talks to ($HF_ENDPOINT, as it reads it)."""
    return os.environ.get("HF_ENDPOINT", "https://huggingface.co").rstrip("/")


HUB_ADVICE = "connect this machine to the internet, or copy the export folder to one that is and push from there"


class ExportDestinationError(ValueError):
    """An export that was written locally but could not be copied to its destination."""


def upload_to_gcs(folder: Path, url: str) -> str:
    """Copy `folder` to gs://bucket/prefix/<folder name>/ (the manifest last); returns that URL."""
    try:
        bucket_name, prefix = cloud_storage.parse_url(url)
        target = f"{prefix}/{folder.name}".strip("/")
        bucket = cloud_storage.client_for(url, "write to").bucket(bucket_name)
        files = sorted(p for p in folder.rglob("*") if p.is_file())
        files.sort(key=lambda p: p.name == MANIFEST)  # the manifest last: its presence means complete
        for path in files:
            bucket.blob(f"{target}/{path.relative_to(folder).as_posix()}").upload_from_filename(str(path))
    except Exception as error:
        message = cloud_storage.user_error(error, url, "write to", "roles/storage.objectCreator")
        raise ExportDestinationError(f"{message} (the export itself is complete in {folder})") from error
    return f"gs://{bucket_name}/{target}"


def push_to_hub(folder: Path, repo_id: str, private: bool = True) -> str:
    """Upload `folder` to the Hugging Face model repo `repo_id` (created private if missing); its URL."""
    from huggingface_hub import HfApi, get_token
    from huggingface_hub.errors import HfHubHTTPError

    try:
        require_reachable(hub_url(), "the Hugging Face Hub", repo_id, HUB_ADVICE)
    except ModelLoadError as error:
        message = str(error).replace(f"cannot load '{repo_id}'", f"cannot push to {repo_id}")
        raise ExportDestinationError(f"{message} The export itself is complete in {folder}.") from error
    api = HfApi()
    if not get_token():
        raise ExportDestinationError(
            "no Hugging Face token: set HF_TOKEN or run `hf auth login` with a token that may write to "
            f"{repo_id} (the export itself is complete in {folder})"
        )
    try:
        api.create_repo(repo_id, private=private, exist_ok=True, repo_type="model")
        info = api.upload_folder(folder_path=str(folder), repo_id=repo_id, repo_type="model", ignore_patterns=["*.zip"])
    except HfHubHTTPError as error:
        status = getattr(error.response, "status_code", None)
        if status in (401, 403):
            raise ExportDestinationError(
                f"the Hugging Face Hub refused the token for {repo_id} (HTTP {status}); use a token with write "
                f"access to that repo (the export itself is complete in {folder})"
            ) from error
        raise ExportDestinationError(f"pushing to {repo_id} failed: {str(error).splitlines()[0][:300]}") from error
    return str(getattr(info, "commit_url", f"{hub_url()}/{repo_id}"))


__all__ = ["ExportDestinationError", "push_to_hub", "upload_to_gcs"]
