"""The one error type every model source raises for problems the user can fix."""

from __future__ import annotations


class ModelLoadError(ValueError):
    """A model source that cannot be loaded, with what to do about it."""
