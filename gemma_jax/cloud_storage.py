"""Google Cloud Storage for every part of gemma-jax: one client, one set of user-words errors.

Models (`models/sources/gcs.py`), data (`data/gcs_data.py`), checkpoints (Orbax), exports and run
storage all reach gs:// through here. Credentials are Application Default Credentials: `gcloud auth
application-default login`, GOOGLE_APPLICATION_CREDENTIALS naming a service-account key file, or a
Google Cloud VM's service account. They are read by google-auth and never by us, so no key or token
can end up in a log, config, run directory or export. STORAGE_EMULATOR_HOST points every client at
an emulator (anonymous then). Metadata requests get a short timeout and are not retried when the host
cannot be reached (the library alone retries for 120 s).
"""

from __future__ import annotations

import os

from gemma_jax.network_timeouts import hub_timeout_s

GCS_PREFIX = "gs://"
CREDENTIALS_ADVICE = (
    "run `gcloud auth application-default login`, or set GOOGLE_APPLICATION_CREDENTIALS to a service-account "
    "key file (on Google Cloud VMs and TPU VMs the VM's service account is used)"
)
# google-cloud-storage >= 3.x starts a background thread on a bucket's first use, to fetch the
# bucket's metadata for OpenTelemetry spans, even with tracing off. Offline, that thread retries
# for about a minute and draws its back-off jitter from Python's global `random`. We emit no
# spans, so the fetch is wasted; the library's own switch turns it off.
_BUCKET_METADATA_SWITCH = "DISABLE_GCS_PYTHON_CLIENT_OTEL_BUCKET_METADATA"
_TRACES_SWITCH = "ENABLE_GCS_PYTHON_CLIENT_OTEL_TRACES"
_UNREACHABLE_MARKERS = (
    "NameResolutionError",
    "Failed to resolve",
    "Name or service not known",
    "Temporary failure in name resolution",
    "Connection refused",
    "Network is unreachable",
    "ConnectTimeout",
    "ReadTimeout",
    "Read timed out",
)


class CloudStorageError(ValueError):
    """A gs:// path that cannot be used, with what to do about it."""


def is_gcs(path) -> bool:
    return isinstance(path, str) and path.startswith(GCS_PREFIX)


def storage_client():
    """A client with Application Default Credentials (or STORAGE_EMULATOR_HOST's emulator)."""
    from google.cloud import storage

    if os.environ.get(_TRACES_SWITCH, "").lower() not in ("1", "true", "yes", "on"):
        os.environ.setdefault(_BUCKET_METADATA_SWITCH, "true")
    return storage.Client(project=os.environ.get("GOOGLE_CLOUD_PROJECT"))


def parse_url(url: str, form: str = "gs://bucket/path") -> tuple[str, str]:
    """(bucket, object path without surrounding slashes) of a gs:// URL."""
    bucket, _, path = url[len(GCS_PREFIX) :].partition("/")
    if not bucket:
        raise CloudStorageError(f"'{url}' names no bucket; the form is {form}")
    return bucket, path.strip("/")


def client_for(url: str, doing: str = "read"):
    """A storage client, or a CloudStorageError saying how to give credentials."""
    from google.auth.exceptions import DefaultCredentialsError

    try:
        return storage_client()
    except DefaultCredentialsError as error:
        raise CloudStorageError(
            f"cannot {doing} '{url}': no usable Google Cloud credentials ({error}); {CREDENTIALS_ADVICE}"
        ) from error


def unreachable(error: BaseException | None) -> bool:
    """The error (or one it wraps) says the storage host could not be reached at all."""
    seen = 0
    while error is not None and seen < 8:
        text = f"{type(error).__name__}: {error}"
        if any(marker in text for marker in _UNREACHABLE_MARKERS):
            return True
        inner = error.args[0] if error.args and isinstance(error.args[0], BaseException) else None
        error, seen = inner or error.__cause__ or error.__context__, seen + 1
    return False


def metadata_retry():
    """Retry transient server errors briefly, but not a host that cannot be reached."""
    from google.api_core.retry import Retry, if_transient_error

    return Retry(predicate=lambda e: if_transient_error(e) and not unreachable(e), timeout=3 * hub_timeout_s())


def user_error(error: Exception, url: str, doing: str = "read", role: str = "roles/storage.objectViewer"):
    """The CloudStorageError a client library error means for the user (`doing`: what we were doing)."""
    from google.api_core import exceptions as api
    from google.api_core.exceptions import RetryError
    from google.auth.exceptions import DefaultCredentialsError, RefreshError

    if isinstance(error, CloudStorageError):
        return error
    if isinstance(error, DefaultCredentialsError):
        return CloudStorageError(
            f"cannot {doing} '{url}': no usable Google Cloud credentials ({error}); {CREDENTIALS_ADVICE}"
        )
    if isinstance(error, RefreshError):
        return CloudStorageError(f"Google Cloud rejected the credentials for '{url}' ({error}); {CREDENTIALS_ADVICE}")
    if isinstance(error, (api.Forbidden, api.Unauthorized)):
        return CloudStorageError(
            f"no permission to {doing} '{url}' ({error.message}); give the account {role} on the bucket, "
            f"or {CREDENTIALS_ADVICE}"
        )
    if isinstance(error, api.NotFound):
        return CloudStorageError(f"'{url}': the bucket does not exist ({error.message}); check the bucket name")
    cause = error.cause if isinstance(error, RetryError) else error
    if unreachable(error) or isinstance(error, RetryError):
        return CloudStorageError(
            f"cannot {doing} '{url}': Cloud Storage cannot be reached ({type(cause).__name__}: {str(cause)[:200]}); "
            "check the network, or use a local copy"
        )
    return CloudStorageError(f"could not {doing} '{url}' on Cloud Storage ({type(error).__name__}: {error})")


def list_objects(url: str, doing: str = "read") -> tuple[list, bool]:
    """The blobs at `url` and whether it is a single object: the object itself, else every object under
    the folder `url/` (placeholder "folder" objects left out). [] when there is nothing."""
    bucket_name, path = parse_url(url)
    timeout, retry = hub_timeout_s(), metadata_retry()
    try:
        client = client_for(url, doing)
        single = client.bucket(bucket_name).get_blob(path, timeout=timeout, retry=retry) if path else None
        if single is not None and not single.name.endswith("/"):
            return [single], True
        prefix = f"{path}/" if path else ""
        blobs = client.list_blobs(bucket_name, prefix=prefix, timeout=timeout, retry=retry)
        return [b for b in blobs if not b.name.endswith("/")], False
    except Exception as error:  # google-api-core, google-auth and requests types
        raise user_error(error, url, doing) from error


def folder_names(url: str) -> list[str]:
    """Names of the "folders" directly under `url` (object-name prefixes up to the next '/')."""
    bucket_name, path = parse_url(url)
    prefix = f"{path}/" if path else ""
    try:
        listing = client_for(url, "list").list_blobs(
            bucket_name, prefix=prefix, delimiter="/", timeout=hub_timeout_s(), retry=metadata_retry()
        )
        for _ in listing:  # the prefixes are known once the pages are read
            pass
        return sorted(p[len(prefix) :].rstrip("/") for p in listing.prefixes)
    except Exception as error:  # google-api-core, google-auth and requests types
        raise user_error(error, url, "list") from error


def prepare_orbax_paths() -> None:
    """Make Orbax's gs:// paths go where google-cloud-storage goes: etils through gcsfs (EPATH_USE_TF=false,
    set when gemma_jax is imported, since etils decides once per process), tensorstore to the emulator when
    one is set."""
    emulator = os.environ.get("STORAGE_EMULATOR_HOST")
    if emulator:
        os.environ.setdefault("TENSORSTORE_GCS_HTTP_URL", emulator)


def check_access(url: str, doing: str = "write to") -> None:
    """Fail before any work when `url`'s bucket cannot be listed with the credentials at hand (a missing or
    rejected credential, a bucket that does not exist, no network)."""
    bucket_name, path = parse_url(url)
    try:
        client = client_for(url, doing)
        list(
            client.list_blobs(bucket_name, prefix=path, max_results=1, timeout=hub_timeout_s(), retry=metadata_retry())
        )
    except Exception as error:  # google-api-core, google-auth and requests types
        raise user_error(error, url, doing, "roles/storage.objectAdmin") from error


def check_job_urls(cfg) -> None:
    """Every gs:// path of a job config (data files, checkpoint folder) answers with the credentials at
    hand: a missing or rejected credential, or a wrong bucket, is found before a model is loaded."""
    data = cfg.data
    for url, doing in (
        (data.train_path, "read"),
        (data.validation_path, "read"),
        (data.test_path, "read"),
        (cfg.checkpoint.directory, "write checkpoints to"),
    ):
        if is_gcs(url):
            check_access(url, doing)
