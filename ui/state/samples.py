"""The run's sample answers (samples.jsonl), tailed by offset: base model vs latest tuned answer per prompt.

The engine writes the base model's answers before step 1 (`"step": 0, "model": "base"`) and
the tuned model's at every sample step; the page shows them side by side.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

from gemma_jax.runs.files import read_json_lines
from gemma_jax.runs.schema import BASE_MODEL, SAMPLES_FILE, Sample


@dataclasses.dataclass
class SampleRow:
    prompt: str
    base: str | None = None
    tuned: str | None = None
    tuned_step: int | None = None


def is_base_record(record: dict) -> bool:
    model = record.get(Sample.MODEL)
    return model == BASE_MODEL or (model is None and record.get(Sample.STEP) == 0)


class SamplesTail:
    """Per prompt, the base answer and the newest tuned answer, in the order prompts first appeared."""

    def __init__(self, run_dir: Path) -> None:
        self.path = Path(run_dir) / SAMPLES_FILE
        self.offset = 0
        self.rows: dict[str, SampleRow] = {}

    def poll(self) -> bool:
        records, offset = read_json_lines(self.path, self.offset)
        if offset < self.offset:
            self.rows = {}
        self.offset = offset
        changed = False
        for record in records:
            prompt, output = record.get(Sample.PROMPT), record.get(Sample.OUTPUT)
            if not isinstance(prompt, str) or not isinstance(output, str):
                continue
            row = self.rows.setdefault(prompt, SampleRow(prompt))
            if is_base_record(record):
                row.base = output
            else:
                step = record.get(Sample.STEP) if isinstance(record.get(Sample.STEP), int) else None
                if row.tuned_step is None or step is None or step >= row.tuned_step:
                    row.tuned, row.tuned_step = output, step
            changed = True
        return changed
