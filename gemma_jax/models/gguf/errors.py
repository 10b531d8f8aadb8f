"""The error every GGUF importer raises for a file it cannot turn into a Keras-Hub model."""

from __future__ import annotations


class GGUFImportError(ValueError):
    """A GGUF file that is not a Gemma model these importers can load, with why and what to do."""
