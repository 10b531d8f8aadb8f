"""The one place a google-cloud-storage client is made (model loading, run storage)."""

from __future__ import annotations

import os

# google-cloud-storage >= 3.x starts a background thread on a bucket's first use, to fetch the
# bucket's metadata for OpenTelemetry spans, even with tracing off. Offline, that thread retries
# for about a minute and draws its back-off jitter from Python's global `random`. We emit no
# spans, so the fetch is wasted; the library's own switch turns it off.
_BUCKET_METADATA_SWITCH = "DISABLE_GCS_PYTHON_CLIENT_OTEL_BUCKET_METADATA"
_TRACES_SWITCH = "ENABLE_GCS_PYTHON_CLIENT_OTEL_TRACES"


def storage_client():
    """A client with Application Default Credentials (or STORAGE_EMULATOR_HOST's emulator)."""
    from google.cloud import storage

    if os.environ.get(_TRACES_SWITCH, "").lower() not in ("1", "true", "yes", "on"):
        os.environ.setdefault(_BUCKET_METADATA_SWITCH, "true")
    return storage.Client(project=os.environ.get("GOOGLE_CLOUD_PROJECT"))
