"""One check of the Data step's source, as the isolated child runs it: match the columns of a new file,
check it, and (when asked) write the copy without its invalid rows and check that. No Panel import."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path

from gemma_jax.config.job_config import JobConfig
from gemma_jax.data.shapes import ColumnSuggestion
from ui.state.data_check import DataCheck, check_data
from ui.state.wizard_columns import suggest_for, with_suggestion
from ui.state.wizard_skip import Skipped, copy_data, skippable, skipped_rows, write_valid_copy


@dataclass(frozen=True)
class CheckPlan:
    """What the check does besides checking: match the columns (a new file), skip invalid rows."""

    match_columns: bool = False
    skip_invalid: bool = False
    copy_folder: str = ""  # where copies without the invalid rows go


@dataclass
class SourceCheck:
    """The check to show, the config it describes (columns matched, original path), and what was done."""

    check: DataCheck
    config: JobConfig
    suggestion: ColumnSuggestion | None = None
    skipped: Skipped | None = None


def check_source(plan: CheckPlan, cfg: JobConfig) -> SourceCheck:
    """Run in the isolated child (module level, so it pickles): reads the file."""
    suggestion = None
    if plan.match_columns:
        suggestion = suggest_for(cfg.data)
        if suggestion is not None:
            cfg = with_suggestion(cfg, suggestion)
    check = check_data(cfg)
    skipped = None
    if plan.skip_invalid and plan.copy_folder and skippable(check.report):
        copy, kept = write_valid_copy(cfg.data, Path(plan.copy_folder))
        rows, count = skipped_rows(check.report)
        skipped = Skipped(
            original=cfg.data.train_path,
            copy=str(copy),
            kept=kept,
            rows=rows,
            count=count,
            original_format=cfg.data.format,
            original_encoding=cfg.data.encoding,
            original_check=check,
        )
        check = check_data(dataclasses.replace(cfg, data=copy_data(cfg.data, copy)))
    return SourceCheck(check=check, config=cfg, suggestion=suggestion, skipped=skipped)
