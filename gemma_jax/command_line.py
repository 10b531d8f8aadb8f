"""Pieces of the command lines shared by `gemma-jax`, `gemma-jax ui` and `python -m gemma_jax.evaluate|export`.

argparse only: nothing heavy is imported here.
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import os
import sys
import tempfile
import time
import traceback
from collections.abc import Callable

from gemma_jax.messages import cap_message


def crash_log_dir() -> str:
    """Where tracebacks of unexpected errors go (GEMMA_JAX_LOG_DIR, else ~/.cache/gemma_jax/logs)."""
    default = os.path.join(os.path.expanduser("~"), ".cache", "gemma_jax", "logs")
    return os.environ.get("GEMMA_JAX_LOG_DIR", default)


def write_crash_log(prog: str, error: BaseException) -> str:
    """Write the full traceback of `error` to a new log file and return its path."""
    folder = crash_log_dir()
    try:
        os.makedirs(folder, exist_ok=True)
    except OSError:
        folder = tempfile.gettempdir()
    stamp = time.strftime("%Y%m%d-%H%M%S")
    fd, path = tempfile.mkstemp(prefix=f"{prog.replace(' ', '-')}-{stamp}-", suffix=".log", dir=folder)
    with os.fdopen(fd, "w", encoding="utf-8") as log:
        log.write(f"{prog} {' '.join(sys.argv[1:])}\n\n")
        log.write("".join(traceback.format_exception(error)))
    return path


@contextlib.contextmanager
def stderr_to_log(prog: str, *, linger_s: float = 0.0):
    """Send everything written to this process's stderr (file descriptor 2, any thread, C++ too) to a log
    file while the block runs; on an error, keep it there `linger_s` longer for late writers.

    tensorstore prints tracebacks from its own threads when a failed Orbax restore has closed the event
    loop its pending reads call back into; they are noise to a user, so they go to the log.
    """
    sys.stderr.flush()
    folder = crash_log_dir()
    os.makedirs(folder, exist_ok=True)
    fd, path = tempfile.mkstemp(prefix=f"{prog}-{time.strftime('%Y%m%d-%H%M%S')}-", suffix=".log", dir=folder)
    saved = os.dup(2)
    os.dup2(fd, 2)
    failed = False
    try:
        yield path
    except BaseException:
        failed = True
        raise
    finally:
        if failed and linger_s:
            time.sleep(linger_s)
            gc.collect()  # asyncio logs "Task exception was never retrieved" when failed tasks are collected
        sys.stderr.flush()
        os.dup2(saved, 2)
        os.close(saved)
        os.close(fd)
        if os.path.getsize(path) == 0:
            os.unlink(path)


def guarded(prog: str, call: Callable[[], int]) -> int:
    """Run one command so that no Python traceback reaches the user.

    User errors (bad config, data, model or run directory: ConfigError, ValueError, OSError) print
    `<prog>: <message>` and return 2. Anything else is a bug or a resource limit: its traceback goes
    to a log file, and the user reads one short line with the error and the log's path (return 1).
    Messages are capped in length.
    """
    from gemma_jax.config import ConfigError

    try:
        return call()
    except KeyboardInterrupt:
        print(f"{prog}: interrupted", file=sys.stderr)
        return 130
    except RecursionError as error:  # a subclass of RuntimeError, but always about the input's nesting
        path = write_crash_log(prog, error)
        print(f"{prog}: the input is nested too deeply to process; the details are in {path}", file=sys.stderr)
        return 2
    except (ConfigError, ValueError, OSError) as error:
        print(f"{prog}: {cap_message(error)}", file=sys.stderr)
        return 2
    except Exception as error:  # noqa: BLE001  (the boundary: whatever happened, a short message and the log)
        path = write_crash_log(prog, error)
        summary = cap_message(f"{type(error).__name__}: {error}", 500)
        print(f"{prog}: unexpected error ({summary}); the full traceback is in {path}", file=sys.stderr)
        return 1


def positive_int(text: str) -> int:
    """An argparse `type`: a whole number of at least 1."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def add_checkpoint_arguments(parser: argparse.ArgumentParser) -> None:
    """RUN_DIR [--step N]: one checkpoint of a run."""
    parser.add_argument("run_dir", help="the run directory")
    parser.add_argument("--step", type=int, default=None, help="checkpoint step (default latest)")


def print_progress(message: str) -> None:
    print(message, flush=True)


def run_module(name: str, doc: str, add_arguments, run, argv=None) -> int:
    """`python -m gemma_jax.<name>`: parse `argv`, then `run(args)` behind `guarded` (a user error prints
    `<name>: <reason>` on stderr, which the dashboard shows, and returns 2; nothing prints a traceback)."""
    parser = argparse.ArgumentParser(prog=f"python -m gemma_jax.{name}", description=doc.splitlines()[0])
    add_arguments(parser)
    args = parser.parse_args(argv)
    return guarded(name, lambda: run(args))
