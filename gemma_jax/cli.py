"""The `gemma-jax` command line: train, resume, generate, serve, list models and runs, control runs."""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

import gemma_jax  # noqa: F401  (selects the JAX backend for Keras)
from gemma_jax.command_line import guarded, positive_int
from gemma_jax.commands.data import add_parser as add_data_parser
from gemma_jax.commands.models import add_parser as add_models_parser
from gemma_jax.config import JobConfig, apply_overrides, load_config, save_config
from gemma_jax.config.presets import PRESETS, apply_preset
from gemma_jax.models.registry import EMBEDDED_MODEL
from gemma_jax.runs.schema import STATUS_FILE
from gemma_jax.vertex.command import add_parser as vertex_parser

DEFAULT_MODEL = EMBEDDED_MODEL  # the pretrained Gemma 3 270M that ships with gemma-jax


def _train(args) -> int:
    from gemma_jax.parallel.distributed import multihost_requested
    from gemma_jax.parallel.supervisor import SUPERVISED, supervise
    from gemma_jax.runs.run_store import RunStore
    from gemma_jax.train.host_memory import retain_for_run, retain_freed_host_memory

    if multihost_requested() and not os.environ.get(SUPERVISED):  # one of several: train in a watched child
        return supervise(args.argv, _run_dir_of(args))
    if args.resume:
        store = RunStore.open(_local_run_dir(args.resume))
        retain_for_run(store.path)  # before JAX starts
        print(f"resuming {store.path}", file=sys.stderr)
    else:
        cfg = load_config(args.config) if args.config else JobConfig()
        cfg = apply_overrides(cfg, args.set or [])
        retain_freed_host_memory(cfg)
        store = _create_run(cfg, args)
        print(f"run directory: {store.path}", file=sys.stderr)
    from gemma_jax.train.trainer import train_run

    state = train_run(str(store.path), progress=not args.no_progress)
    if multihost_requested() and os.environ.get("JAX_PROCESS_ID", "0") != "0":
        # status.json is process 0's; this process logged its own end to stderr
        print(f"process {os.environ['JAX_PROCESS_ID']}: {state}", file=sys.stderr)
        return 1 if state == "failed" else 0
    status = store.read_status()
    if state == "failed":
        print(f"training failed: {status.get('error')}", file=sys.stderr)
        return 1
    print(
        f"{state}: step {status.get('step')}/{status.get('total_steps')}, loss {status.get('loss')}, "
        f"best eval loss {status.get('best_eval_loss')}\n{store.path}",
        file=sys.stderr,
    )
    return 0


def _local_run_dir(resume: str) -> str:
    """RUN_DIR as given, or for gs://.../checkpoints the run rebuilt from its copy there (a new VM)."""
    from gemma_jax.cloud_storage import is_gcs

    if not is_gcs(resume):
        return resume
    from gemma_jax.runs.remote_copy import restore_run_dir

    run_dir = restore_run_dir(resume, JobConfig().runs_dir)
    print(f"run directory restored from {resume}: {run_dir}", file=sys.stderr)
    return str(run_dir)


def _run_dir_of(args) -> str | None:
    """The run directory a train command will use, where it is known before it starts."""
    if args.resume:
        return args.resume
    if not args.run_id:
        return None
    cfg = apply_overrides(load_config(args.config) if args.config else JobConfig(), args.set or [])
    return os.path.join(cfg.runs_dir, args.run_id)


def _create_run(cfg: JobConfig, args):
    """A new run directory; in a multi-host run process 0 makes it and the others use it (their own
    copy where they do not share its file system), so every process needs the same --run-id."""
    from gemma_jax.parallel.distributed import barrier, initialize_if_multihost, is_primary, multihost_requested
    from gemma_jax.runs.run_store import RunStore

    if not multihost_requested():
        if not args.skip_memory_check:
            _check_memory(cfg)
        return RunStore.create(cfg, run_id=args.run_id)
    if not args.run_id:
        raise ValueError(
            "this process is one of several (JAX_COORDINATOR_ADDRESS is set): give every process the same "
            "--run-id NAME, or start them all with `gemma-jax launch --processes N train ...`"
        )
    initialize_if_multihost()  # before anything starts a JAX backend
    if not args.skip_memory_check:
        _check_memory(cfg)
    store = RunStore.create(cfg, run_id=args.run_id) if is_primary() else None
    barrier("run directory created")
    if store is None:
        path = os.path.join(cfg.runs_dir, args.run_id)
        store = RunStore.open(path) if os.path.isdir(path) else RunStore.create(cfg, run_id=args.run_id)
    return store


def _launch(args) -> int:
    import time

    from gemma_jax.parallel.launcher import launch
    from gemma_jax.runs.run_store import safe_run_name

    train = build_parser().parse_args(args.train)
    if train.command != "train":
        raise ValueError("launch runs a training job: gemma-jax launch --processes 2 train CONFIG [train options]")
    cfg = apply_overrides(load_config(train.config) if train.config else JobConfig(), train.set or [])
    run_id = f"{safe_run_name(cfg.name)}-{time.strftime('%Y%m%d-%H%M%S')}"
    return launch(args.train, args.processes, args.devices_per_process, run_id)


def _check_memory(cfg: JobConfig) -> None:
    """Refuse a job whose estimated peak memory exceeds what this machine has free (before any loading)."""
    from gemma_jax.models.memory_check import available_memory
    from gemma_jax.preflight import preflight_check

    available, platform, devices = available_memory()
    preflight_check(cfg, device_count=devices, available_memory=available, memory_platform=platform)


# generate's flags by the names of the request fields `gemma-jax serve` checks them as
_GENERATE_FLAGS = {
    "max_tokens": "--max-new-tokens",
    "temperature": "--temperature",
    "top_k": "--top-k",
    "seed": "--seed",
}


def _generate_sampling(args):
    """--max-new-tokens, --temperature, --top-k and --seed checked as `gemma-jax serve` checks a request
    (serve/openai/protocol.py: the same bounds and words, the flag named): before any model loads."""
    from gemma_jax.serve.openai.protocol import ApiError, parse_sampling

    body = {name: getattr(args, flag[2:].replace("-", "_")) for name, flag in _GENERATE_FLAGS.items()}
    try:
        return parse_sampling(body)
    except ApiError as error:
        message = error.message
        for name, flag in _GENERATE_FLAGS.items():
            message = message.replace(f"`{name}`", flag)
        raise ValueError(message) from None


def _generate_room(prompt_tokens: int, max_new_tokens: int, context: int | None) -> None:
    """Refuse a prompt (<bos> counted) plus --max-new-tokens past the model's context, as serve does."""
    if not context:
        return
    if prompt_tokens >= context:
        raise ValueError(
            f"the prompt is {prompt_tokens:,} tokens and the model reads at most {context:,} tokens in all "
            "(prompt and new tokens together); shorten the prompt"
        )
    room = context - prompt_tokens
    if max_new_tokens > room:
        raise ValueError(
            f"--max-new-tokens is {max_new_tokens:,} but only {room:,} new tokens fit after the "
            f"{prompt_tokens:,}-token prompt: the model reads at most {context:,} tokens in all (prompt and new "
            f"tokens together); lower --max-new-tokens to {room:,} or less"
        )


def _generate(args) -> int:
    from gemma_jax.data import data_texts
    from gemma_jax.models.generation import Generator
    from gemma_jax.models.loading import load_model
    from gemma_jax.serve.openai.prompts import chat_prompt_ids
    from gemma_jax.serve.openai.protocol import Message
    from gemma_jax.train.run_model import load_run_model

    sampling = _generate_sampling(args)
    source = args.model or DEFAULT_MODEL
    if os.path.isfile(os.path.join(source, STATUS_FILE)):
        model, step = load_run_model(source, args.step)
        print(f"{source} at checkpoint step {step}", file=sys.stderr)
    else:
        texts = data_texts(JobConfig().data) if source.startswith(("tiny:", "random:")) else None
        model = load_model(source, vocab_texts=texts)
    tokenizer = model.tokenizer
    if args.raw:
        ids = [tokenizer.bos_id, *tokenizer.encode(args.prompt)]
    else:  # as serve and training encode a user turn: typed "<start_of_turn>" stays text
        ids = chat_prompt_ids((Message("user", args.prompt),), tokenizer)
    _generate_room(len(ids), args.max_new_tokens, model.context_length)
    generator = Generator(model, max_length=len(ids) + args.max_new_tokens, weights=args.weights)
    generation = generator.generate_from_ids(
        [ids],
        args.max_new_tokens,
        temperature=sampling.temperature,
        top_k=sampling.top_k,
        seed=sampling.seed,
    )[0]
    text = model.tokenizer.decode_text(generation.token_ids) if args.raw else generation.text  # raw: exact, as serve
    if args.json:  # the ids the model produced (stop token excluded), not a re-encoding of the text
        print(json.dumps({"text": text, "token_ids": generation.token_ids}))
    else:
        print(text)
    return 0


def _runs(args) -> int:
    from gemma_jax.runs.listing import format_runs_table, list_runs

    root = Path(args.runs_dir)
    if root.exists() and not root.is_dir():
        raise ValueError(f"{root} is a file, not a runs folder; pass the folder that holds the runs (--runs-dir DIR)")
    if root.is_dir():
        try:  # list_runs reads an unreadable folder as empty: say so instead of "no runs yet"
            with os.scandir(root) as entries:
                next(entries, None)
        except OSError as error:
            raise ValueError(
                f"cannot read the runs folder {root}: {error.strerror or error}; check its permissions"
            ) from error
    runs = list_runs(root)
    print(format_runs_table(runs) if runs else f"no runs yet in {root}")
    return 0


def _ui(args) -> int:
    from ui.serve import main as serve_dashboard

    return serve_dashboard(args)


def _control(args) -> int:
    from gemma_jax.runs.run_store import RunStore

    action = args.action.replace("-", "_")  # set-lr -> set_lr
    if action == "set_lr" and args.value is None:
        raise ValueError("set-lr needs the new peak learning rate, e.g. `gemma-jax control RUN_DIR set-lr 1e-4`")
    if action != "set_lr" and args.value is not None:
        raise ValueError(f"{args.action} takes no value (got {args.value})")
    from gemma_jax.runs.listing import summarize_run

    store = RunStore.open(args.run_dir)
    summary, _ = summarize_run(store.path)
    if summary.state not in ("queued", "running", "paused"):
        hint = "" if summary.state == "completed" else f"; continue it with `gemma-jax train --resume {args.run_dir}`"
        raise ValueError(f"{args.run_dir} is {summary.state}: no process is there to {args.action}{hint}")
    try:
        request = store.request(action, value=args.value)
    except OSError as error:  # its own words name a temporary file of ours, not the folder to fix
        raise ValueError(
            f"cannot leave the request in {args.run_dir}: {error.strerror or error}; "
            "run this as the user who started the run, or make its folder writable"
        ) from error
    print(f"requested {args.action} ({request['id']}); the run acknowledges it in status.json")
    return 0


def _init_config(args) -> int:
    if os.path.exists(args.path):
        print(f"{args.path} exists; not overwriting it", file=sys.stderr)
        return 1
    cfg = JobConfig()
    for name in args.preset or []:  # task and hardware presets combine, later ones win
        cfg = apply_preset(cfg, name)
    save_config(apply_overrides(cfg, args.set or []), args.path, comments=True)
    print(f"wrote {args.path}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="gemma-jax", description="Fine-tune Gemma models with JAX.")
    commands = parser.add_subparsers(dest="command", required=True)

    train = commands.add_parser("train", help="fine-tune from a config file, or resume a run")
    train.add_argument("config", nargs="?", help="YAML config (default: built-in defaults)")
    train.add_argument("--set", action="append", metavar="KEY=VALUE", help="override a config value")
    train.add_argument(
        "--resume",
        metavar="RUN_DIR",
        help="continue a stopped or crashed run; or gs://.../CHECKPOINTS of a run with gs:// checkpoints (on a new "
        "machine its run directory is rebuilt from the copy kept there)",
    )
    train.add_argument("--run-id", help="name of the new run directory")
    train.add_argument("--no-progress", action="store_true", help="no progress bar")
    train.add_argument(
        "--skip-memory-check", action="store_true", help="start even if the memory estimate exceeds free memory"
    )
    train.set_defaults(handler=_train)

    launching = commands.add_parser(
        "launch", help="run a training job as several cooperating processes (multi-host layout, on one machine)"
    )
    launching.add_argument("--processes", type=positive_int, required=True, help="how many processes")
    launching.add_argument(
        "--devices-per-process", type=positive_int, help="simulated CPU devices per process (tests a TPU-slice layout)"
    )
    launching.add_argument("train", nargs=argparse.REMAINDER, help="train CONFIG [train options], as for `train`")
    launching.set_defaults(handler=_launch)

    generate = commands.add_parser("generate", help="sample from a base model or a run's fine-tuned model")
    generate.add_argument(
        "model",
        nargs="?",
        help=f"a model source (see `gemma-jax models`), a RUN_DIR or tiny:<arch> (default {DEFAULT_MODEL}, built in)",
    )
    generate.add_argument("--prompt", required=True)
    generate.add_argument("--max-new-tokens", type=int, default=64)
    generate.add_argument("--temperature", type=float, default=0.0)
    generate.add_argument("--top-k", type=int, default=50)
    generate.add_argument("--seed", type=int, default=None)
    generate.add_argument("--step", type=int, default=None, help="checkpoint step of a run (default latest)")
    generate.add_argument(
        "--raw",
        action="store_true",
        help="no chat template: the prompt as-is after <bos>, and its exact continuation (not stripped) out",
    )
    generate.add_argument("--json", action="store_true", help="print one JSON object with text and token_ids")
    generate.add_argument(
        "--weights",
        choices=("auto", "float32", "bfloat16", "int8"),
        default="auto",
        help="decoder weights: auto (default) keeps the model's own dtype, so the output is the model's own; "
        "int8 (and bfloat16 for a float32 model) decode faster on CPU but are APPROXIMATE: they may choose "
        "different tokens",
    )
    generate.set_defaults(handler=_generate)

    add_models_parser(commands)

    runs = commands.add_parser("runs", help="list runs and their state")
    runs.add_argument("--runs-dir", default="runs")
    runs.set_defaults(handler=_runs)

    from gemma_jax.evaluate.__main__ import add_arguments as add_evaluate_arguments
    from gemma_jax.evaluate.__main__ import run as evaluate
    from gemma_jax.export.__main__ import add_arguments as add_export_arguments
    from gemma_jax.export.__main__ import run as export

    evaluation = commands.add_parser("evaluate", help="eval loss and answers of a checkpoint vs its base model")
    add_evaluate_arguments(evaluation)
    evaluation.set_defaults(handler=evaluate)
    exporting = commands.add_parser("export", help="write a checkpoint's LoRA adapter, merged Keras preset and zip")
    add_export_arguments(exporting)
    exporting.set_defaults(handler=export)

    from gemma_jax.serve.openai.command import add_arguments as add_serve_arguments
    from gemma_jax.serve.openai.command import run as serve

    serving = commands.add_parser("serve", help="an OpenAI-compatible HTTP server for a run, an export or a model")
    add_serve_arguments(serving)
    serving.set_defaults(handler=serve)

    control = commands.add_parser("control", help="pause, resume, save, abort or set-lr VALUE on a running job")
    control.add_argument("run_dir")
    control.add_argument("action", choices=["pause", "resume", "save", "abort", "set-lr"])
    control.add_argument("value", nargs="?", type=float, help="set-lr: the new peak learning rate, e.g. 1e-4")
    control.set_defaults(handler=_control)

    add_data_parser(commands)

    vertex_parser(commands)

    init = commands.add_parser("init-config", help="write a config file with every default")
    init.add_argument("path")
    init.add_argument("--set", action="append", metavar="KEY=VALUE")
    init.add_argument(
        "--preset",
        action="append",
        metavar="NAME",
        help="start from a task or hardware preset (repeatable): " + ", ".join(PRESETS),
    )
    init.set_defaults(handler=_init_config)

    from ui.serve import add_arguments as add_ui_arguments  # argparse only; Panel loads when serving

    ui = commands.add_parser("ui", help="the dashboard in the browser: runs, training, playground, evaluate, export")
    add_ui_arguments(ui)
    ui.set_defaults(handler=_ui)
    return parser


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    args.argv = list(sys.argv[1:] if argv is None else argv)
    # User errors (config, data, model, run directory) come back as their message; anything else as one
    # line with the log file that holds its traceback.
    return guarded(f"gemma-jax {args.command}", lambda: args.handler(args))


if __name__ == "__main__":
    sys.exit(main())
