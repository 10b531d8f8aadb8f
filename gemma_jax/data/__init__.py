"""gemma_jax.data: from a user's JSONL/CSV file to packed, checkpointable training batches."""

from gemma_jax.data.augment import augment_examples
from gemma_jax.data.batches import BatchIterator
from gemma_jax.data.chat_template import prompt_text, render, render_text
from gemma_jax.data.checks import build_report
from gemma_jax.data.cleaning import CleaningOptions, clean_examples
from gemma_jax.data.errors import DataError
from gemma_jax.data.example import Example, Turn
from gemma_jax.data.lengths import length_report
from gemma_jax.data.packing import PackedRows, pack_rows
from gemma_jax.data.pipeline import Datasets, PreparedData, build_datasets, data_texts, load_splits, prepare_data
from gemma_jax.data.preference_pair import PreferencePair
from gemma_jax.data.preview import preview_example
from gemma_jax.data.readers import (
    EXAMPLE_HELDOUT_FILE,
    EXAMPLE_TRAIN_FILE,
    detect_format,
    example_prompts,
    read_examples,
    read_preference_pairs,
    split_examples,
)
from gemma_jax.data.report import DataReport, Location, Problem
from gemma_jax.data.splitting import split_dataset, split_preview
from gemma_jax.data.tokenize import TokenizedExample, tokenize_example, tokenize_examples

__all__ = [
    "EXAMPLE_HELDOUT_FILE",
    "EXAMPLE_TRAIN_FILE",
    "BatchIterator",
    "CleaningOptions",
    "DataError",
    "DataReport",
    "Datasets",
    "Example",
    "Location",
    "PackedRows",
    "PreferencePair",
    "PreparedData",
    "Problem",
    "TokenizedExample",
    "Turn",
    "augment_examples",
    "build_datasets",
    "build_report",
    "clean_examples",
    "data_texts",
    "detect_format",
    "example_prompts",
    "length_report",
    "load_splits",
    "pack_rows",
    "prepare_data",
    "preview_example",
    "prompt_text",
    "read_examples",
    "read_preference_pairs",
    "render",
    "render_text",
    "split_dataset",
    "split_examples",
    "split_preview",
    "tokenize_example",
    "tokenize_examples",
]
