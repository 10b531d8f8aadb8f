"""Submitting and following a Vertex AI CustomJob with the official client (google-cloud-aiplatform).

The client speaks REST (one HTTP request per call, no gRPC channel to keep), with Application Default
Credentials like every Cloud call of gemma-jax. `GEMMA_JAX_VERTEX_ENDPOINT` (host:port, plain HTTP)
points it elsewhere: the tests answer there with recorded Vertex AI responses. Submitted jobs are
remembered in RUNS_DIR/vertex_jobs.jsonl, which `gemma-jax vertex jobs` and the dashboard read.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

from gemma_jax.cloud_storage import (
    CREDENTIALS_ADVICE,
    CloudStorageError,
    client_for,
    parse_url,
    unreachable,
    user_error,
)
from gemma_jax.config.io import config_to_yaml
from gemma_jax.config.job_config import JobConfig
from gemma_jax.vertex.job_spec import VertexJob, custom_job

JOBS_FILE = "vertex_jobs.jsonl"
ENDPOINT_VARIABLE = "GEMMA_JAX_VERTEX_ENDPOINT"
INSTALL_HINT = "Vertex AI needs the optional client: pip install 'gemma-jax[vertex]' (google-cloud-aiplatform)"
FINAL_STATES = ("JOB_STATE_SUCCEEDED", "JOB_STATE_FAILED", "JOB_STATE_CANCELLED", "JOB_STATE_EXPIRED")


class VertexError(ValueError):
    """A Vertex AI call that failed, with what to do about it."""


def _job_service(region: str):
    try:
        from google.cloud import aiplatform_v1
        from google.cloud.aiplatform_v1.services.job_service import transports
    except ImportError as error:
        raise VertexError(INSTALL_HINT) from error
    endpoint = os.environ.get(ENDPOINT_VARIABLE)
    if endpoint:
        from google.auth.credentials import AnonymousCredentials

        transport = transports.JobServiceRestTransport(
            host=endpoint, credentials=AnonymousCredentials(), url_scheme="http"
        )
        return aiplatform_v1.JobServiceClient(transport=transport), aiplatform_v1
    try:  # finds the credentials now: a machine without any fails here, not at the first call
        client = aiplatform_v1.JobServiceClient(
            client_options={"api_endpoint": f"{region}-aiplatform.googleapis.com"}, transport="rest"
        )
    except Exception as error:  # google-auth types
        raise _vertex_error(error, f"reach Vertex AI in {region}") from error
    return client, aiplatform_v1


def _vertex_error(error: Exception, what: str) -> VertexError:
    from google.api_core import exceptions as api
    from google.auth.exceptions import DefaultCredentialsError, RefreshError

    if isinstance(error, (DefaultCredentialsError, RefreshError)):
        return VertexError(f"cannot {what}: no usable Google Cloud credentials ({error}); {CREDENTIALS_ADVICE}")
    if isinstance(error, (api.Forbidden, api.Unauthorized)):
        return VertexError(
            f"cannot {what}: permission denied ({error.message}); give the account roles/aiplatform.user on the project"
        )
    if isinstance(error, api.NotFound):
        return VertexError(f"cannot {what}: not found ({error.message}); check the project, region and job name")
    if isinstance(error, api.GoogleAPICallError):
        return VertexError(f"cannot {what}: Vertex AI answered {error.code} {error.message}")
    if unreachable(error):
        return VertexError(f"cannot {what}: Vertex AI cannot be reached from this machine; check the network")
    return VertexError(f"cannot {what}: {type(error).__name__}: {str(error)[:300]}")


def upload_config(cfg: JobConfig, job: VertexJob) -> str:
    """Put the job config where the container reads it (OUTPUT/config.yaml); its gs:// URL."""
    bucket_name, path = parse_url(job.config_uri)
    try:
        bucket = client_for(job.config_uri, "write to").bucket(bucket_name)
        bucket.blob(path).upload_from_string(config_to_yaml(cfg), content_type="text/yaml")
    except Exception as error:  # google-api-core, google-auth and requests types
        raise user_error(error, job.config_uri, "write to", "roles/storage.objectCreator") from error
    return job.config_uri


def submit(cfg: JobConfig, job: VertexJob, project: str, region: str, run_id: str, runs_dir: str | Path) -> dict:
    """Upload the config, create the CustomJob, remember it; {"name", "state", ...} of the new job."""
    client, aiplatform_v1 = _job_service(region)
    try:
        upload_config(cfg, job)
    except CloudStorageError as error:
        raise VertexError(f"the job was not submitted: {error}") from error
    resource = aiplatform_v1.CustomJob.from_json(json.dumps(custom_job(job, run_id)))
    try:
        created = client.create_custom_job(
            parent=f"projects/{project}/locations/{region}", custom_job=resource, timeout=60
        )
    except Exception as error:  # google-api-core and google-auth types
        raise _vertex_error(error, f"submit {job.display_name} to Vertex AI in {project}/{region}") from error
    record = {
        "name": created.name,
        "display_name": created.display_name,
        "state": created.state.name,
        "region": region,
        "machine": job.machine.name,
        "output": job.output,
        "checkpoints": job.checkpoints_uri,
        "submitted": round(time.time(), 3),
    }
    folder = Path(runs_dir)
    folder.mkdir(parents=True, exist_ok=True)
    with (folder / JOBS_FILE).open("a", encoding="utf-8") as jobs:
        jobs.write(json.dumps(record) + "\n")
    return record


def job_state(name: str) -> dict:
    """The job's state now: {"name", "state", "error", "start", "end"}."""
    region = name.split("/locations/")[1].split("/")[0] if "/locations/" in name else "us-central1"
    client, _ = _job_service(region)
    try:
        job = client.get_custom_job(name=name, timeout=15)
    except Exception as error:  # google-api-core and google-auth types
        raise _vertex_error(error, f"read the state of {name}") from error
    return {
        "name": job.name,
        "state": job.state.name,
        "error": job.error.message or None,
        "start": job.start_time.isoformat() if job.start_time else None,
        "end": job.end_time.isoformat() if job.end_time else None,
    }


def submitted_jobs(runs_dir: str | Path) -> list[dict]:
    """The jobs submitted from this workspace, oldest first (a damaged line is skipped)."""
    path = Path(runs_dir) / JOBS_FILE
    jobs = []
    if path.is_file():
        for line in path.read_text(encoding="utf-8").splitlines():
            try:
                jobs.append(json.loads(line))
            except ValueError:
                continue
    return jobs
