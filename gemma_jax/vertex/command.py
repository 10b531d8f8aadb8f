"""`gemma-jax vertex spec|submit|status|jobs`: Vertex AI training jobs from the command line."""

from __future__ import annotations

import argparse
import json
import re
import time

from gemma_jax.config import JobConfig, apply_overrides, load_config, validate
from gemma_jax.vertex.machines import MACHINES


def add_parser(commands) -> None:
    vertex = commands.add_parser("vertex", help="train on Vertex AI: build, check and submit a custom job")
    actions = vertex.add_subparsers(dest="vertex_command", required=True)
    for name, text in (("spec", "print the CustomJob a config becomes (nothing is sent)"), ("submit", "submit it")):
        action = actions.add_parser(name, help=text)
        action.add_argument("config", help="the job config (YAML)")
        action.add_argument("--set", action="append", metavar="KEY=VALUE", help="config override (repeatable)")
        action.add_argument(
            "--machine", required=True, choices=list(MACHINES), metavar="MACHINE", help=", ".join(MACHINES)
        )
        action.add_argument("--image", required=True, help="a container image with gemma-jax installed")
        action.add_argument("--output", required=True, metavar="gs://BUCKET/PATH", help="config, checkpoints, run copy")
        action.add_argument("--name", help="the job's display name (default: the config's name and the time)")
        action.add_argument("--spot", action="store_true", help="Spot capacity (cheaper, may be preempted)")
        action.add_argument("--service-account", help="the service account the job runs as")
        if name == "submit":
            action.add_argument("--project", required=True)
            action.add_argument("--region", required=True, help="e.g. us-central1 (TPU v5e: us-west1, ...)")
        action.set_defaults(handler=_spec if name == "spec" else _submit)
    status = actions.add_parser("status", help="a submitted job's state")
    status.add_argument("job", help="projects/P/locations/R/customJobs/ID")
    status.set_defaults(handler=_status)
    jobs = actions.add_parser("jobs", help="the jobs submitted from this workspace, with their state now")
    jobs.add_argument("--runs-dir", default=JobConfig().runs_dir)
    jobs.set_defaults(handler=_jobs)


def _prepared(args: argparse.Namespace):
    from gemma_jax.vertex.job_spec import custom_job, problems, vertex_job

    cfg = apply_overrides(load_config(args.config), args.set or [])
    name = args.name or f"{cfg.name}-{time.strftime('%Y%m%d-%H%M%S')}"
    run_id = re.sub(r"[^A-Za-z0-9._-]+", "-", name).strip("-.") or "vertex-run"
    job = vertex_job(name, args.machine, args.image, args.output, spot=args.spot, service_account=args.service_account)
    found = validate(cfg) + problems(job, cfg)
    return cfg, job, run_id, custom_job(job, run_id), found


def _spec(args) -> int:
    _, job, _, spec, found = _prepared(args)
    print(json.dumps({"customJob": spec, "configUri": job.config_uri, "problems": found}, indent=2))
    return 2 if found else 0


def _submit(args) -> int:
    from gemma_jax.vertex.client import submit

    cfg, job, run_id, _, found = _prepared(args)
    if found:
        raise ValueError("the job was not submitted: " + "; ".join(found))
    record = submit(cfg, job, args.project, args.region, run_id, cfg.runs_dir)
    print(f"submitted {record['name']} ({record['state']})")
    print(f"follow it: gemma-jax vertex status {record['name']}")
    print(f"continue it anywhere: gemma-jax train --resume {job.checkpoints_uri}")
    return 0


def _status(args) -> int:
    from gemma_jax.vertex.client import job_state

    state = job_state(args.job)
    print(json.dumps(state))
    return 0


def _jobs(args) -> int:
    from gemma_jax.vertex.client import VertexError, job_state, submitted_jobs

    for record in submitted_jobs(args.runs_dir):
        try:
            state = job_state(record["name"])["state"]
        except VertexError as error:
            state = f"unknown ({error})"
        print(f"{record['name']}  {record['machine']}  {state}  {record['checkpoints']}")
    return 0
