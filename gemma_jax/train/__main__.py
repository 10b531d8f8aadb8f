"""`python -m gemma_jax.train RUN_DIR`: the training process the job runner spawns."""

import argparse
import sys

import gemma_jax  # noqa: F401  (selects the JAX backend for Keras)
from gemma_jax.train.host_memory import retain_for_run


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m gemma_jax.train")
    parser.add_argument("run_dir")
    parser.add_argument("--no-progress", action="store_true")
    args = parser.parse_args(argv)
    retain_for_run(args.run_dir)  # before JAX starts
    from gemma_jax.train.trainer import train_run

    state = train_run(args.run_dir, progress=not args.no_progress)
    return 0 if state in ("completed", "aborted") else 1


if __name__ == "__main__":
    sys.exit(main())
