"""A Vertex AI CustomJob from a gemma-jax job config, and the problems that would make it fail there.

The job runs `python -m gemma_jax.cli train /gcs/BUCKET/OUTPUT/config.yaml` in the user's container
(an image with gemma-jax installed): Vertex AI mounts Cloud Storage at /gcs/, so the config uploaded
next to the output is a file in the container. Checkpoints go to OUTPUT/checkpoints (gs://), which
also keeps a copy of the run's small files (`runs/remote_copy.py`), so the run outlives the job and
`gemma-jax train --resume gs://OUTPUT/checkpoints` continues it anywhere. Nothing on this machine is
visible to the job: data and model paths must be gs://, a hub handle, or packaged ("example",
gemma3_270m), which `problems` checks before anything is submitted.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from gemma_jax.cloud_storage import is_gcs, parse_url
from gemma_jax.config.job_config import JobConfig
from gemma_jax.vertex.machines import VertexMachine, get_machine

CONTAINER_COMMAND = ["python", "-m", "gemma_jax.cli"]
_IMAGE = re.compile(r"^[a-z0-9][a-z0-9.\-/:@_]*$")
_LABEL = re.compile(r"^[a-z][a-z0-9_-]{0,62}$")
REMOTE_MODEL_KINDS = ("gcs", "kaggle", "hf", "hub", "embedded", "tiny", "random")


@dataclass(frozen=True)
class VertexJob:
    """What a user chooses for one Vertex AI training job (the job config holds the rest)."""

    display_name: str
    machine: VertexMachine
    image: str
    output: str  # gs://bucket/path: config.yaml, checkpoints/ (and the run's copy) go there
    spot: bool = False
    service_account: str | None = None

    @property
    def config_uri(self) -> str:
        return f"{self.output.rstrip('/')}/config.yaml"

    @property
    def checkpoints_uri(self) -> str:
        return f"{self.output.rstrip('/')}/checkpoints"


def vertex_job(display_name: str, machine: str, image: str, output: str, **options) -> VertexJob:
    return VertexJob(display_name, get_machine(machine), image, output, **options)


def fuse_path(url: str) -> str:
    """Where Vertex AI's Cloud Storage FUSE mount shows gs://bucket/path in the container."""
    bucket, path = parse_url(url)
    return f"/gcs/{bucket}/{path}"


def container_args(job: VertexJob, run_id: str) -> list[str]:
    return [
        "train",
        fuse_path(job.config_uri),
        "--run-id",
        run_id,
        "--no-progress",
        "--set",
        f"checkpoint.directory={job.checkpoints_uri}",
    ]


def custom_job(job: VertexJob, run_id: str) -> dict:
    """The CustomJob resource (REST field names), ready for JobService.CreateCustomJob.

    A machine of several replicas is a primary pool of one and a worker pool of the rest, all running
    the same command: Vertex AI's CLUSTER_SPEC then names the peers, and the primary is process 0."""
    pool = {
        "machineSpec": job.machine.machine_spec(),
        "replicaCount": 1,
        "containerSpec": {
            "imageUri": job.image,
            "command": CONTAINER_COMMAND,
            "args": container_args(job, run_id),
            "env": [{"name": "PYTHONUNBUFFERED", "value": "1"}],
        },
        "diskSpec": {"bootDiskType": "pd-ssd", "bootDiskSizeGb": 100},
    }
    pools = [pool] if job.machine.replicas == 1 else [pool, {**pool, "replicaCount": job.machine.replicas - 1}]
    spec: dict = {"workerPoolSpecs": pools, "baseOutputDirectory": {"outputUriPrefix": job.output}}
    if job.spot:
        spec["scheduling"] = {"strategy": "SPOT"}
    if job.service_account:
        spec["serviceAccount"] = job.service_account
    return {"displayName": job.display_name, "jobSpec": spec, "labels": {"created_by": "gemma-jax"}}


def problems(job: VertexJob, cfg: JobConfig) -> list[str]:
    """What would fail on Vertex AI, in the user's words (empty: the spec can be submitted)."""
    from gemma_jax.models.sources.kinds import describe_source

    found = []
    if not is_gcs(job.output):
        found.append(f"the output must be a gs:// folder (Vertex AI writes there), got {job.output!r}")
    if not job.image or not _IMAGE.match(job.image):
        found.append(
            f"the container image {job.image!r} is not an image reference; give one with gemma-jax installed, "
            "e.g. us-docker.pkg.dev/PROJECT/REPO/gemma-jax:latest"
        )
    if not job.display_name.strip() or len(job.display_name) > 128:
        found.append("the job's display name must be 1 to 128 characters")
    for role, path in (
        ("data.train_path", cfg.data.train_path),
        ("data.validation_path", cfg.data.validation_path),
        ("data.test_path", cfg.data.test_path),
    ):
        if path and path != "example" and not is_gcs(path) and not path.startswith(("hf:", "tfds:")):
            found.append(
                f"{role} {path!r} is on this machine, which the job cannot see; upload it (gemma-jax data push)"
            )
    if describe_source(cfg.model.source) not in REMOTE_MODEL_KINDS:
        found.append(
            f"model.source {cfg.model.source!r} is on this machine, which the job cannot see; copy it to gs:// or use "
            "a Kaggle or Hugging Face handle"
        )
    if job.machine.tpu_topology and cfg.model.dtype == "float32":
        found.append("model.dtype float32 wastes a TPU's bfloat16 units; use auto")
    return found
