"""The Cloud TPU scripts in tpu/: syntax, --help, shellcheck, and their gcloud calls.

A stand-in `gcloud` (GCLOUD=...) records every call and runs `ssh --command` and `scp`
on this machine with HOME set to a temporary "worker home", so the scripts' remote
parts really execute here without a Cloud project.
"""

from __future__ import annotations

import json
import os
import shutil
import stat
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
TPU = REPO / "tpu"
SCRIPTS = ["create_vm.sh", "setup_vm.sh", "train.sh", "tunnel.sh", "watch.sh"]
CHECKPOINTS = "gs://my-bucket/runs/my-run"

FAKE_GCLOUD = r"""
import json, os, shutil, subprocess, sys

args = sys.argv[1:]
with open(os.environ["STUB_LOG"], "a") as log:
    log.write(json.dumps(args) + "\n")
home = os.environ["STUB_HOME"]
if args[:2] == ["config", "get-value"]:
    print(os.environ.get("STUB_PROJECT", "") if args[2] == "project" else "(unset)")
elif args[:2] == ["compute", "tpus"] and args[3] == "describe":
    if any("value(state" in a for a in args):
        states = os.environ.get("STUB_STATES", "READY").split(",")  # one per call; the last one repeats
        count_file = os.environ["STUB_LOG"] + ".states"
        seen = int(open(count_file).read()) if os.path.exists(count_file) else 0
        open(count_file, "w").write(str(seen + 1))
        state = states[min(seen, len(states) - 1)]
        if state == "NOT_FOUND":
            print("ERROR: (gcloud.compute.tpus.tpu-vm.describe) NOT_FOUND", file=sys.stderr)
            sys.exit(1)
        print(state)
    else:
        print("10.164.0.7" if any("ipAddress" in a for a in args) else os.environ.get("STUB_WORKERS", "1"))
elif args[:3] == ["compute", "tpus", "tpu-vm"] and args[3] == "scp":
    plain = [a for a in args[4:] if not a.startswith("--")]
    source, target = plain[0], plain[1].split(":", 1)[1]
    shutil.copy(source, os.path.join(home, target))
elif args[:3] == ["compute", "tpus", "tpu-vm"] and args[3] == "ssh":
    commands = [a.split("=", 1)[1] for a in args if a.startswith("--command=")]
    if commands:
        env = dict(os.environ, HOME=home)
        sys.exit(subprocess.run(["bash", "-c", commands[0]], cwd=home, env=env, check=False).returncode)
"""


def _executable(path: Path, text: str) -> Path:
    path.write_text(text)
    path.chmod(path.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
    return path


class FakeCloud:
    """Runs tpu/ scripts against the stand-in gcloud; `calls()` lists the argument lists it got."""

    def __init__(self, tmp_path: Path):
        self.worker_home = tmp_path / "worker-home"
        self.worker_home.mkdir()
        self.log = tmp_path / "gcloud-calls.jsonl"
        gcloud = _executable(tmp_path / "gcloud", f"#!{sys.executable}\n{FAKE_GCLOUD}")
        self.env = {
            key: value
            for key, value in os.environ.items()
            if key not in ("TPU_NAME", "ZONE", "PROJECT_ID", "REMOTE_DIR", "ACCELERATOR_TYPE", "RUNTIME_VERSION")
        }
        self.env.update(
            GCLOUD=str(gcloud), STUB_LOG=str(self.log), STUB_HOME=str(self.worker_home), STUB_PROJECT="my-project"
        )

    def calls(self) -> list[list[str]]:
        return [json.loads(line) for line in self.log.read_text().splitlines()] if self.log.exists() else []

    def run(self, script: str, *args: str, **env: str) -> subprocess.CompletedProcess:
        return subprocess.run(
            ["bash", str(TPU / script), *args],
            env={**self.env, **env},
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )


@pytest.fixture
def cloud(tmp_path):
    return FakeCloud(tmp_path)


def _fake_uv(cloud, gemma_jax_line: str) -> None:
    """A stand-in uv on the worker: `uv venv` makes a venv whose python is this interpreter and whose gemma-jax
    runs `gemma_jax_line`; every call's arguments are appended to ~/uv-calls."""
    local_bin = cloud.worker_home / ".local" / "bin"
    local_bin.mkdir(parents=True)
    _executable(
        local_bin / "uv",
        f"""#!/bin/sh
if [ "$1" = venv ]; then
  mkdir -p .venv/bin
  printf '#!/bin/sh\\nexec "{sys.executable}" "$@"\\n' > .venv/bin/python
  printf '#!/bin/sh\\n%s\\n' '{gemma_jax_line}' > .venv/bin/gemma-jax
  chmod +x .venv/bin/python .venv/bin/gemma-jax
fi
echo "$@" >> "$HOME/uv-calls"
""",
    )


def _fake_venv(checkout: Path, gemma_jax_body: str) -> Path:
    """A checkout on the 'worker' whose .venv/bin/gemma-jax is a script recording its arguments."""
    bin_dir = checkout / ".venv" / "bin"
    bin_dir.mkdir(parents=True)
    _executable(bin_dir / "python", f'#!/bin/sh\nexec "{sys.executable}" "$@"\n')
    _executable(bin_dir / "gemma-jax", f'#!/bin/sh\necho "$@" > "{checkout}/gemma-jax-args"\n{gemma_jax_body}\n')
    return checkout


def _required_args(script: str, config: Path) -> list[str]:
    return {"train.sh": [str(config)], "watch.sh": ["--checkpoints", CHECKPOINTS, "--once"]}.get(script, [])


@pytest.mark.parametrize("script", [*SCRIPTS, "common.sh"])
def test_script_is_valid_bash(script):
    result = subprocess.run(["bash", "-n", str(TPU / script)], capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stderr


@pytest.mark.parametrize("script", SCRIPTS)
def test_help_works_without_gcloud(script):
    env = {**os.environ, "GCLOUD": "/nonexistent/gcloud"}
    result = subprocess.run(["bash", str(TPU / script), "--help"], env=env, capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith(f"Usage: tpu/{script}")
    assert (TPU / script).read_text().startswith("#!/usr/bin/env bash\n")
    assert "set -euo pipefail" in (TPU / script).read_text()
    assert os.access(TPU / script, os.X_OK), f"tpu/{script} should be executable"


def test_shellcheck_is_clean():
    if shutil.which("shellcheck") is None:
        if os.environ.get("CI"):  # .ci/run installs it: a missing one there is a failure, not a skip
            pytest.fail(
                "shellcheck is not installed; scripts/system_packages.sh (run by scripts/test.sh) should have installed it"
            )
        pytest.skip("shellcheck is not installed (apt-get install -y shellcheck)")
    result = subprocess.run(
        ["shellcheck", "-x", *(str(TPU / s) for s in [*SCRIPTS, "common.sh"])],
        capture_output=True,
        text=True,
        cwd=REPO,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("script", SCRIPTS)
def test_missing_gcloud_is_a_clear_error(script, tmp_path):
    config = tmp_path / "job.yaml"
    config.write_text("name: x\n")
    args = _required_args(script, config)
    env = {**os.environ, "GCLOUD": "/nonexistent/gcloud"}
    result = subprocess.run(["bash", str(TPU / script), *args], env=env, capture_output=True, text=True, check=False)
    assert result.returncode != 0
    assert "gcloud not found" in result.stderr and "https://cloud.google.com/sdk" in result.stderr


@pytest.mark.parametrize("script", SCRIPTS)
def test_unset_project_is_a_clear_error(script, cloud, tmp_path):
    config = tmp_path / "job.yaml"
    config.write_text("name: x\n")
    args = _required_args(script, config)
    result = cloud.run(script, *args, STUB_PROJECT="")
    assert result.returncode != 0
    assert "no Google Cloud project set" in result.stderr and "--project" in result.stderr
    assert not any(call[:2] == ["compute", "tpus"] for call in cloud.calls())


def test_unknown_option_and_missing_value_fail(cloud):
    result = cloud.run("create_vm.sh", "--bogus")
    assert result.returncode != 0 and "unknown option '--bogus'" in result.stderr
    result = cloud.run("create_vm.sh", "--zone")
    assert result.returncode != 0 and "--zone needs a value" in result.stderr


def test_create_vm_calls_gcloud_with_defaults_and_overrides(cloud):
    result = cloud.run("create_vm.sh")
    assert result.returncode == 0, result.stderr
    create = cloud.calls()[-1]
    assert create[:5] == ["compute", "tpus", "tpu-vm", "create", "gemma-jax"]
    for flag in (
        "--zone=europe-west4-b",
        "--project=my-project",
        "--accelerator-type=v5litepod-8",
        "--version=v2-alpha-tpuv5-lite",
    ):
        assert flag in create

    result = cloud.run(
        "create_vm.sh", "--name", "big", "--type", "v4-8", "--zone", "us-central2-b", "--spot", "--", "--network=n1"
    )
    assert result.returncode == 0, result.stderr
    create = cloud.calls()[-1]
    assert create[4] == "big" and "--version=tpu-ubuntu2204-base" in create and "--zone=us-central2-b" in create
    assert create[-2:] == ["--spot", "--network=n1"]


def test_create_vm_dry_run_prints_the_command(cloud):
    result = cloud.run("create_vm.sh", "--dry-run", "--type", "v6e-8")
    assert result.returncode == 0, result.stderr
    assert "tpu-vm create gemma-jax" in result.stdout and "--version=v2-alpha-tpuv6e" in result.stdout
    assert not any("create" in call for call in cloud.calls())


def test_train_launches_detached_on_all_workers(cloud, tmp_path):
    checkout = _fake_venv(cloud.worker_home / "gemma-jax", "exit 0")
    config = tmp_path / "my job.yaml"
    config.write_text("name: demo\n")
    result = cloud.run("train.sh", str(config), "--run-id", "r1", "--set", "train.max_steps=3", "--wait", "5")
    assert result.returncode == 0, result.stderr
    calls = cloud.calls()
    scp = next(c for c in calls if c[3:4] == ["scp"])
    ssh = next(c for c in calls if c[3:4] == ["ssh"])
    assert "--worker=all" in scp and "--worker=all" in ssh
    assert (checkout / "configs" / "r1.yaml").read_text() == "name: demo\n"
    args = (checkout / "gemma-jax-args").read_text().split()
    assert args == ["train", "configs/r1.yaml", "--run-id", "r1", "--set", "train.max_steps=3", "--no-progress"]
    assert (checkout / "logs" / "r1.log").exists() and (checkout / "logs" / "r1.pid").exists()
    assert "gemma-jax control runs/r1 abort" in result.stdout


def test_train_default_run_id_comes_from_the_config_name(cloud, tmp_path):
    checkout = _fake_venv(cloud.worker_home / "gemma-jax", "exit 0")
    config = tmp_path / "pirate lora.yaml"
    config.write_text("name: demo\n")
    result = cloud.run("train.sh", str(config), "--wait", "5")
    assert result.returncode == 0, result.stderr
    args = (checkout / "gemma-jax-args").read_text().split()
    run_id = args[args.index("--run-id") + 1]
    assert run_id.startswith("pirate-lora-") and (checkout / "configs" / f"{run_id}.yaml").exists()


def test_train_reports_an_early_failure_with_the_log(cloud, tmp_path):
    _fake_venv(cloud.worker_home / "gemma-jax", 'echo "gemma-jax train: config.yaml: bad value" >&2\nexit 2')
    config = tmp_path / "job.yaml"
    config.write_text("name: demo\n")
    result = cloud.run("train.sh", str(config), "--run-id", "bad", "--wait", "5")
    assert result.returncode != 0
    assert "exited early" in result.stderr and "bad value" in result.stderr


def test_train_resume_passes_the_run_dir(cloud):
    checkout = _fake_venv(cloud.worker_home / "gemma-jax", "exit 0")
    result = cloud.run("train.sh", "--resume", "runs/r1", "--worker", "0", "--wait", "3")
    assert result.returncode == 0, result.stderr
    assert (checkout / "gemma-jax-args").read_text().split() == ["train", "--resume", "runs/r1", "--no-progress"]
    assert not any(c[3:4] == ["scp"] for c in cloud.calls())
    assert "--worker=0" in next(c for c in cloud.calls() if c[3:4] == ["ssh"])


def test_train_refuses_a_multi_host_slice_unless_asked(cloud, tmp_path):
    checkout = _fake_venv(cloud.worker_home / "gemma-jax", 'echo "$JAX_COORDINATOR_ADDRESS" > coordinator')
    config = tmp_path / "job.yaml"
    config.write_text("name: demo\n")
    result = cloud.run("train.sh", str(config), "--run-id", "r2", STUB_WORKERS="4")
    assert result.returncode != 0
    assert "4 workers" in result.stderr and "--multi-host" in result.stderr
    assert not (checkout / "gemma-jax-args").exists()

    result = cloud.run("train.sh", str(config), "--run-id", "r2", "--multi-host", "--wait", "3", STUB_WORKERS="4")
    assert result.returncode == 0, result.stderr
    assert "gs://" in result.stderr, "warns that checkpoints need a shared directory"
    assert (checkout / "coordinator").read_text().strip() == "10.164.0.7:8476"

    args = ("--run-id", "r3", "--set", "checkpoint.directory=gs://bucket/r3", "--multi-host", "--wait", "3")
    result = cloud.run("train.sh", str(config), *args, STUB_WORKERS="4")
    assert result.returncode == 0, result.stderr
    assert "warning" not in result.stderr
    assert "needs --worker all" in cloud.run("train.sh", str(config), "--multi-host", "--worker", "0").stderr


def test_train_argument_errors(cloud, tmp_path):
    assert "give a CONFIG.yaml" in cloud.run("train.sh").stderr
    assert "not found" in cloud.run("train.sh", str(tmp_path / "missing.yaml")).stderr
    config = tmp_path / "job.yaml"
    config.write_text("name: demo\n")
    assert "not both" in cloud.run("train.sh", str(config), "--resume", "runs/x").stderr
    assert "plain folder name" in cloud.run("train.sh", str(config), "--run-id", "a/b").stderr


def test_setup_vm_copies_the_checkout_and_installs(cloud):
    _fake_uv(cloud, f'exec "{sys.executable}" -m gemma_jax.cli "$@"')
    result = cloud.run("setup_vm.sh", "--name", "tpu1", JAX_PLATFORMS="cpu")
    assert result.returncode == 0, result.stdout + result.stderr
    checkout = cloud.worker_home / "gemma-jax"
    assert (checkout / "setup.cfg").exists() and (checkout / "gemma_jax" / "cli.py").exists()
    assert (checkout / "gemma_jax" / "runs" / "run_store.py").exists(), "only the top-level runs/ is left out"
    assert not (checkout / ".git").exists() and not (cloud.worker_home / "gemma-jax-src.tgz").exists()
    uv_calls = (cloud.worker_home / "uv-calls").read_text().splitlines()
    assert uv_calls[0].startswith("venv --python 3.12")
    assert uv_calls[1] == "pip install --python .venv/bin/python -e . jax[tpu] tensorboard"
    assert "gemma-jax ready in" in result.stdout
    scp = next(c for c in cloud.calls() if c[3:4] == ["scp"])
    assert "tpu1:gemma-jax-src.tgz" in scp and "--worker=all" in scp


def test_setup_vm_dry_run_with_repo_is_valid_bash(cloud, tmp_path):
    result = cloud.run("setup_vm.sh", "--repo", "https://github.com/OWNER/gemma-jax", "--ref", "main", "--dry-run")
    assert result.returncode == 0, result.stderr
    script = "\n".join(line for line in result.stdout.splitlines() if not line.startswith("#"))
    assert "git clone" in script and "jax\\[tpu\\]" in script
    (tmp_path / "remote.sh").write_text(script)
    assert subprocess.run(["bash", "-n", str(tmp_path / "remote.sh")], check=False).returncode == 0
    assert not any(c[3:4] in (["ssh"], ["scp"]) for c in cloud.calls())


def test_tunnel_forwards_the_default_ports_from_worker_0(cloud):
    result = cloud.run("tunnel.sh", "--name", "tpu1")
    assert result.returncode == 0, result.stderr
    ssh = cloud.calls()[-1]
    assert ssh[3:5] == ["ssh", "tpu1"] and "--worker=0" in ssh
    assert ssh[ssh.index("--") :] == ["--", "-N", "-L", "6006:localhost:6006", "-L", "5006:localhost:5006"]
    result = cloud.run("tunnel.sh", "--port", "8888", "--dry-run", "--tensorboard")
    assert result.returncode == 0, result.stderr
    assert "8888:localhost:8888" in result.stdout and "tensorboard --logdir runs" in result.stdout
    assert "not a port" in cloud.run("tunnel.sh", "--port", "http").stderr
    result = cloud.run("tunnel.sh", "--dry-run", "--dashboard")
    assert result.returncode == 0, result.stderr
    assert "gemma-jax ui --no-show --address 127.0.0.1" in result.stdout and "5006:localhost:5006" in result.stdout


def test_watch_leaves_a_running_vm_alone(cloud):
    result = cloud.run("watch.sh", "--checkpoints", CHECKPOINTS, "--once", STUB_STATES="READY")
    assert result.returncode == 0, result.stderr
    assert "gemma-jax is READY" in result.stderr
    assert [c[3] for c in cloud.calls() if c[:3] == ["compute", "tpus", "tpu-vm"]] == ["describe"]


@pytest.mark.parametrize("state", ["PREEMPTED", "TERMINATED", "NOT_FOUND"])
def test_watch_dry_run_prints_the_whole_recovery(cloud, state):
    result = cloud.run(
        "watch.sh",
        "--checkpoints",
        CHECKPOINTS,
        "--once",
        "--dry-run",
        "--",
        "--type",
        "v5litepod-8",
        "--spot",
        STUB_STATES=state,
    )
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert ("tpu-vm delete gemma-jax" in out) == (state != "NOT_FOUND")
    assert "tpu-vm create gemma-jax" in out and "--accelerator-type=v5litepod-8" in out and "--spot" in out
    assert "uv venv" in out or "pip install" in out  # setup_vm.sh's worker script
    assert f"--resume {CHECKPOINTS}" in out or f"--resume\\ {CHECKPOINTS}" in out or CHECKPOINTS in out
    # Nothing was changed: only the state was read.
    assert [c[3] for c in cloud.calls() if c[:3] == ["compute", "tpus", "tpu-vm"]] == ["describe"]


def _watch_until_it_gives_up(cloud, states: str, *args: str):
    """(worker checkout, result) of watch.sh allowed one recovery, the VM going through `states`; the new VM's
    gemma-jax records its arguments (what train.sh started there)."""
    checkout = cloud.worker_home / "gemma-jax"
    _fake_uv(cloud, f'echo "$@" > {checkout}/gemma-jax-args')
    options = [a for a in args if a == "--queued"]
    rest = [a for a in args if a != "--queued"]
    result = cloud.run(
        "watch.sh",
        *options,
        "--checkpoints",
        CHECKPOINTS,
        "--interval",
        "0",
        "--max-restarts",
        "1",
        *rest,
        STUB_STATES=states,
        SOURCE_DIR=str(REPO),
    )
    return checkout, result


def test_watch_recreates_a_preempted_vm_and_resumes_from_gcs(cloud):
    checkout, result = _watch_until_it_gives_up(cloud, "PREEMPTED,READY,PREEMPTED", "--", "--spot")
    # preempted -> recreated and resumed; ready; preempted again -> over --max-restarts: a clear stop
    assert result.returncode != 0 and "recreated 1 times" in result.stderr, result.stderr
    verbs = [c[3] for c in cloud.calls() if c[:3] == ["compute", "tpus", "tpu-vm"]]
    assert verbs[:3] == ["describe", "delete", "create"] and verbs.count("create") == 1
    assert "--spot" in next(c for c in cloud.calls() if c[3:4] == ["create"])
    assert (checkout / "gemma-jax-args").read_text().split() == ["train", "--resume", CHECKPOINTS, "--no-progress"]


def test_watch_needs_a_gcs_checkpoint_folder(cloud):
    result = cloud.run("watch.sh", "--checkpoints", "/local/ckpt", "--once")
    assert result.returncode != 0 and "gs:// checkpoint.directory" in result.stderr


def test_watch_requeues_a_suspended_queued_resource_and_waits_for_it(cloud):
    checkout, result = _watch_until_it_gives_up(
        cloud,
        "SUSPENDED,WAITING_FOR_RESOURCES,ACTIVE,ACTIVE,SUSPENDED",
        "--queued",
        "--",
        "--type",
        "v5litepod-16",
        "--spot",
    )
    assert result.returncode != 0 and "recreated 1 times" in result.stderr, result.stderr
    assert "waiting for the queued resource (WAITING_FOR_RESOURCES)" in result.stderr
    queued = [c for c in cloud.calls() if c[:3] == ["compute", "tpus", "queued-resources"]]
    assert [c[3] for c in queued if c[3] != "describe"] == ["delete", "create"]
    create = next(c for c in queued if c[3] == "create")
    assert "--node-id=gemma-jax" in create and "--runtime-version=v2-alpha-tpuv5-lite" in create and "--spot" in create
    assert (checkout / "gemma-jax-args").read_text().split() == ["train", "--resume", CHECKPOINTS, "--no-progress"]


def test_create_vm_queued_dry_run(cloud):
    result = cloud.run("create_vm.sh", "--queued", "--type", "v6e-8", "--dry-run")
    assert result.returncode == 0, result.stderr
    assert "queued-resources create gemma-jax --node-id=gemma-jax" in result.stdout
    assert "--runtime-version=v2-alpha-tpuv6e" in result.stdout
