"""Vertex AI custom jobs: the spec a config becomes, its checks, and submitting and polling it with the
official client (google-cloud-aiplatform, REST transport) against a local server that answers with
recorded Vertex AI responses; the config goes to a real Cloud Storage emulator."""

import json
import os
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import ClassVar

import pytest
import yaml

from gemma_jax.cli import main
from gemma_jax.config import JobConfig, apply_overrides, save_config
from gemma_jax.vertex import client as vertex_client
from gemma_jax.vertex.job_spec import custom_job, problems, vertex_job

RECORDED = Path(__file__).parent / "recorded"
JOB = "projects/123456789012/locations/us-central1/customJobs/4412345678901234567"
IMAGE = "us-docker.pkg.dev/my-project/ml/gemma-jax:0.1"


class RecordedVertex(BaseHTTPRequestHandler):
    """Answers Vertex AI's REST paths with recorded responses; keeps what it was sent."""

    requests: ClassVar[list] = []
    gets: ClassVar[list] = ["get_custom_job_running.json"]
    deny = False

    def _answer(self, status: int, name: str) -> None:
        body = (RECORDED / name).read_bytes()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_POST(self):
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        type(self).requests.append(("POST", self.path.split("?")[0], body))
        if type(self).deny:
            return self._answer(403, "permission_denied.json")
        self._answer(200, "create_custom_job.json")

    def do_GET(self):
        type(self).requests.append(("GET", self.path.split("?")[0], None))
        gets = type(self).gets
        self._answer(200, gets.pop(0) if len(gets) > 1 else gets[0])

    def log_message(self, *args):
        pass


@pytest.fixture
def vertex(monkeypatch):
    RecordedVertex.requests, RecordedVertex.gets, RecordedVertex.deny = [], ["get_custom_job_running.json"], False
    server = ThreadingHTTPServer(("127.0.0.1", 0), RecordedVertex)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    monkeypatch.setenv(vertex_client.ENDPOINT_VARIABLE, f"127.0.0.1:{server.server_address[1]}")
    yield RecordedVertex
    server.shutdown()


@pytest.fixture
def config_file(tmp_path):
    cfg = apply_overrides(JobConfig(), ["name=pirate", f"runs_dir={tmp_path / 'runs'}", "model.source=gemma3_270m"])
    save_config(cfg, tmp_path / "pirate.yaml")
    return tmp_path / "pirate.yaml"


def test_the_spec_matches_vertex_ai_field_names_and_the_client_accepts_it():
    from google.cloud import aiplatform_v1

    job = vertex_job("pirate-tpu", "v5e-8", IMAGE, "gs://team-vertex/pirate", spot=True)
    spec = custom_job(job, "pirate-tpu")
    parsed = aiplatform_v1.CustomJob.from_json(json.dumps(spec))  # unknown or misspelt fields would raise
    pool = parsed.job_spec.worker_pool_specs[0]
    assert pool.machine_spec.machine_type == "ct5lp-hightpu-8t" and pool.machine_spec.tpu_topology == "2x4"
    assert parsed.job_spec.scheduling.strategy == aiplatform_v1.Scheduling.Strategy.SPOT
    assert list(pool.container_spec.args)[:2] == ["train", "/gcs/team-vertex/pirate/config.yaml"]
    assert "checkpoint.directory=gs://team-vertex/pirate/checkpoints" in pool.container_spec.args
    gpu = aiplatform_v1.CustomJob.from_json(json.dumps(custom_job(vertex_job("g", "1xH100", IMAGE, "gs://b/o"), "g")))
    spec = gpu.job_spec.worker_pool_specs[0].machine_spec
    assert spec.accelerator_type == aiplatform_v1.AcceleratorType.NVIDIA_H100_80GB and spec.accelerator_count == 1


def test_problems_name_what_the_job_could_not_reach():
    cfg = apply_overrides(
        JobConfig(), ["data.train_path=/home/me/qa.jsonl", "model.source=/home/me/preset", "model.dtype=float32"]
    )
    found = " | ".join(problems(vertex_job("x", "v5e-8", "Not An Image!", "/local/out"), cfg))
    assert "output must be a gs:// folder" in found and "not an image reference" in found
    assert "data.train_path '/home/me/qa.jsonl' is on this machine" in found and "gemma-jax data push" in found
    assert "model.source '/home/me/preset' is on this machine" in found and "float32 wastes" in found
    ok = apply_overrides(JobConfig(), ["data.train_path=gs://b/d/v-1", "model.source=kaggle://keras/gemma3/keras/x"])
    assert problems(vertex_job("x", "1xL4", IMAGE, "gs://b/out"), ok) == []
    with pytest.raises(ValueError, match="no Vertex AI machine called 'v9-8'"):
        vertex_job("x", "v9-8", IMAGE, "gs://b/o")


def test_submit_uploads_the_config_creates_the_job_and_polls_it(gcs, vertex, config_file, tmp_path, capsys):
    bucket = gcs.client.create_bucket("team-vertex")
    argv = ["--machine", "v5e-8", "--image", IMAGE, "--output", "gs://team-vertex/pirate", "--name", "pirate-tpu"]
    assert (
        main(
            [
                "vertex",
                "submit",
                str(config_file),
                *argv,
                "--spot",
                "--project",
                "my-project",
                "--region",
                "us-central1",
            ]
        )
        == 0
    )
    out = capsys.readouterr().out
    assert f"submitted {JOB} (JOB_STATE_PENDING)" in out and "train --resume gs://team-vertex/pirate/checkpoints" in out
    method, path, body = vertex.requests[0]
    assert (method, path) == ("POST", "/v1/projects/my-project/locations/us-central1/customJobs")
    assert body["displayName"] == "pirate-tpu" and body["jobSpec"]["scheduling"]["strategy"] in (
        "SPOT",
        4,
    )  # enum as int on the wire
    uploaded = yaml.safe_load(bucket.blob("pirate/config.yaml").download_as_bytes())
    assert uploaded["name"] == "pirate" and uploaded["model"]["source"] == "gemma3_270m"
    jobs = vertex_client.submitted_jobs(tmp_path / "runs")
    assert [j["name"] for j in jobs] == [JOB] and jobs[0]["machine"] == "v5e-8"

    vertex.gets = ["get_custom_job_running.json", "get_custom_job_failed.json"]
    assert vertex_client.job_state(JOB)["state"] == "JOB_STATE_RUNNING"
    failed = vertex_client.job_state(JOB)
    assert failed["state"] == "JOB_STATE_FAILED" and "non-zero status" in failed["error"] and failed["end"]
    assert vertex.requests[-1] == ("GET", f"/v1/{JOB}", None)
    assert main(["vertex", "jobs", "--runs-dir", str(tmp_path / "runs")]) == 0
    assert f"{JOB}  v5e-8  JOB_STATE_FAILED" in capsys.readouterr().out


def test_a_refused_submission_is_a_clear_error(gcs, vertex, config_file, capsys):
    gcs.client.create_bucket("team-vertex")
    vertex.deny = True
    argv = ["--machine", "1xH100", "--image", IMAGE, "--output", "gs://team-vertex/x", "--project", "my-project"]
    assert main(["vertex", "submit", str(config_file), *argv, "--region", "us-central1"]) == 2
    err = capsys.readouterr().err
    assert "permission denied" in err and "roles/aiplatform.user" in err and "Traceback" not in err


def test_spec_with_problems_exits_2_and_sends_nothing(vertex, config_file, capsys):
    assert main(["vertex", "spec", str(config_file), "--machine", "cpu", "--image", IMAGE, "--output", "/tmp/x"]) == 2
    assert "output must be a gs:// folder" in json.loads(capsys.readouterr().out)["problems"][0]
    assert vertex.requests == []


def test_the_runs_page_state_lists_jobs_and_polls_them_off_thread(vertex, tmp_path):
    from ui.state.vertex_jobs import VertexJobsState

    runs = tmp_path / "runs"
    runs.mkdir()
    record = {"name": JOB, "display_name": "<b>pirate</b>", "machine": "v5e-8", "state": "JOB_STATE_PENDING"}
    (runs / vertex_client.JOBS_FILE).write_text(json.dumps(record) + "\nnot json\n")
    state = VertexJobsState(runs)
    state.refresh(now=100.0)
    assert [r["state"] for r in state.rows] == ["pending"]  # as submitted, until the poll answers
    state._thread.join(10)
    vertex.gets = ["get_custom_job_failed.json"]
    state.refresh(now=101.0)  # the answer (running) is shown; no new poll before POLL_S
    assert state.rows[0]["state"] == "running" and state.rows[0]["job"] == "<b>pirate</b>"
    state.refresh(now=200.0)
    state._thread.join(10)
    state.refresh(now=201.0)
    assert state.rows[0]["state"].startswith("failed: The replica workerpool0-0 exited")
    asked = len(vertex.requests)
    state.refresh(now=400.0)  # an ended job is not asked again
    state._thread.join(10)
    assert len(vertex.requests) == asked


def test_an_unreachable_vertex_ai_is_said_in_words(monkeypatch):
    monkeypatch.setenv(vertex_client.ENDPOINT_VARIABLE, "127.0.0.1:9")  # nothing listens there
    with pytest.raises(vertex_client.VertexError, match="Vertex AI cannot be reached from this machine"):
        vertex_client.job_state(JOB)


def test_a_machine_of_several_replicas_is_a_primary_and_a_worker_pool():
    from google.cloud import aiplatform_v1

    spec = custom_job(vertex_job("big", "16xH100", IMAGE, "gs://b/o"), "big")
    parsed = aiplatform_v1.CustomJob.from_json(json.dumps(spec))
    primary, workers = parsed.job_spec.worker_pool_specs
    assert (primary.replica_count, workers.replica_count) == (1, 1)
    assert primary.machine_spec == workers.machine_spec and primary.machine_spec.accelerator_count == 8
    assert list(primary.container_spec.args) == list(workers.container_spec.args)  # one shared --run-id
    assert "--run-id" in list(primary.container_spec.args)


def _no_multihost_variables(monkeypatch):
    """Unset, and put back as they were after the test (CLUSTER_SPEC adoption writes them to os.environ)."""
    for name in ("JAX_COORDINATOR_ADDRESS", "JAX_NUM_PROCESSES", "JAX_PROCESS_ID", "TPU_WORKER_HOSTNAMES"):
        monkeypatch.setenv(name, "")
        monkeypatch.delenv(name)


@pytest.mark.parametrize(
    ("task", "expected"),
    [
        ({"type": "workerpool0", "index": 0}, "0"),
        ({"type": "workerpool1", "index": 0}, "1"),
        ({"type": "workerpool1", "index": 2}, "3"),
    ],
)
def test_cluster_spec_numbers_replicas_pool_by_pool_with_the_primary_as_coordinator(monkeypatch, task, expected):
    from gemma_jax.parallel.distributed import multihost_requested

    _no_multihost_variables(monkeypatch)
    cluster = {"workerpool0": ["primary:2222"], "workerpool1": ["w0:2222", "w1:2222", "w2:2222"]}
    monkeypatch.setenv("CLUSTER_SPEC", json.dumps({"cluster": cluster, "task": task}))
    assert multihost_requested()
    assert os.environ["JAX_COORDINATOR_ADDRESS"] == "primary:2222"
    assert (os.environ["JAX_NUM_PROCESSES"], os.environ["JAX_PROCESS_ID"]) == ("4", expected)


def test_a_single_replica_or_a_broken_cluster_spec(monkeypatch):
    from gemma_jax.parallel.distributed import adopt_vertex_cluster_spec, multihost_requested

    _no_multihost_variables(monkeypatch)
    single = {"cluster": {"workerpool0": ["primary:2222"]}, "task": {"type": "workerpool0", "index": 0}}
    monkeypatch.setenv("CLUSTER_SPEC", json.dumps(single))
    assert not multihost_requested() and "JAX_COORDINATOR_ADDRESS" not in os.environ
    monkeypatch.setenv("CLUSTER_SPEC", '{"cluster": {"workerpool1": []}}')
    with pytest.raises(ValueError, match="CLUSTER_SPEC is not Vertex AI's cluster description"):
        adopt_vertex_cluster_spec()


def test_no_credentials_shows_in_the_jobs_row_not_as_a_thread_traceback(monkeypatch, tmp_path):
    from google.auth import exceptions as auth_errors

    from ui.state.vertex_jobs import VertexJobsState

    monkeypatch.delenv(vertex_client.ENDPOINT_VARIABLE, raising=False)

    def no_credentials(*args, **kwargs):
        raise auth_errors.DefaultCredentialsError("Your default credentials were not found.")

    monkeypatch.setattr("google.auth.default", no_credentials)
    with pytest.raises(vertex_client.VertexError, match="no usable Google Cloud credentials"):
        vertex_client.job_state(JOB)
    runs = tmp_path / "runs"
    runs.mkdir()
    (runs / vertex_client.JOBS_FILE).write_text(json.dumps({"name": JOB, "state": "JOB_STATE_PENDING"}) + "\n")
    state = VertexJobsState(runs)
    state.refresh(now=100.0)
    state._thread.join(10)
    state.refresh(now=101.0)
    assert state.rows[0]["state"].startswith("unknown: cannot reach Vertex AI in ")
    assert "credentials" in state.rows[0]["state"]
