"""Subcommands of `gemma-jax` that live outside cli.py: each module adds its parser and handlers."""
