"""Download links for a user's exports and evaluation reports, and which file such a link may name
(no Tornado, no Panel).

A merged model is hundreds of MB: sent through Panel's websocket (FileDownload) it is base64
in the browser tab's memory and several copies in the server's. So exports are plain links,
`downloads/<run_id>/<export folder>/<file>`, which `ui/download_route.py` streams from disk;
an evaluation's report.json and predictions.jsonl (which grows with the split) are links
`downloads/<run_id>/eval/step-N-SPLIT/<file>` on the same route.
A link names a file in one of the workspace's runs' export folders, or one of those two report
files, and nothing else: no `..`, no hidden names (half-written exports), no symlink leading out,
no other file of a run (config, checkpoints, attention arrays), no other user's workspace.
"""

from __future__ import annotations

import re
import unicodedata
from pathlib import Path
from urllib.parse import quote

from gemma_jax.evaluate import PREDICTIONS, REPORT, SPLITS
from gemma_jax.export.listing import is_export_folder
from gemma_jax.runs.schema import EVAL_DIR, EXPORT_DIR
from ui.confinement import Confinement, ConfinementError
from ui.workspace import OWNER_FILE, Workspace

DOWNLOAD_PREFIX = "downloads"
_REPORT_FOLDER = re.compile(rf"step-\d+-({'|'.join(SPLITS)})")
REPORT_FILES = (REPORT, PREDICTIONS)
_UNSAFE_IN_HEADER = re.compile(r"[^A-Za-z0-9._-]+")
CONTENT_TYPES = {
    ".zip": "application/zip",
    ".json": "application/json",
    ".jsonl": "application/x-ndjson",  # one JSON object per line
    ".md": "text/markdown; charset=utf-8",
    ".yaml": "text/yaml; charset=utf-8",
}


def download_url(run_id: str, relative: str) -> str:
    """The link (relative to the dashboard's page) to `relative`, a path under the run's export folder
    or `eval/step-N-SPLIT/<report file>`."""
    return f"{DOWNLOAD_PREFIX}/{quote(run_id, safe='')}/{quote(relative)}"


def content_type(path: Path) -> str:
    """What the file is; anything else is plain bytes (never HTML a browser would render)."""
    return CONTENT_TYPES.get(path.suffix.lower(), "application/octet-stream")


def attachment(name: str) -> str:
    """A Content-Disposition that saves the file under its own name, made safe for the header."""
    plain = _UNSAFE_IN_HEADER.sub("_", unicodedata.normalize("NFKD", name)).strip("._") or "download"
    return f"attachment; filename=\"{plain}\"; filename*=UTF-8''{quote(name, safe='')}"


def owns(workspace: Workspace) -> bool:
    """A logged-in user's workspace folder exists and is marked as theirs (ui.workspace.claim_user_folder)."""
    if not workspace.confined:
        return True
    try:
        owner = (workspace.root / OWNER_FILE).read_text(encoding="utf-8")
    except OSError:
        return False
    return owner == unicodedata.normalize("NFC", str(workspace.user))


def _resolved(path: Path) -> Path | None:
    try:
        return path.resolve(strict=True)
    except (OSError, RuntimeError):  # missing, or a symlink loop
        return None


def _run(workspace: Workspace, run_id: str) -> Path | None:
    """Run `run_id`'s folder in `workspace`, resolved; None unless the user owns the workspace and the
    run is a plain folder of its runs (not a link leading elsewhere)."""
    if not owns(workspace):
        return None
    try:
        run_dir = Confinement.for_workspace(workspace).run_dir(run_id)
    except ConfinementError:
        return None
    runs_dir, run = _resolved(Path(workspace.runs_dir)), _resolved(run_dir)
    return run if runs_dir is not None and run is not None and run.parent == runs_dir else None


def _plain_parts(relative: str) -> list[str] | None:
    parts = str(relative).split("/")
    if any(not part or part.startswith(".") or "\\" in part or "\0" in part for part in parts):
        return None  # '..', '.', '', hidden names and half-written files, absolute paths
    return parts


def export_file(workspace: Workspace, run_id: str, relative: str) -> Path | None:
    """The file `relative` names in run `run_id`'s export folder of `workspace`, resolved; None for
    anything else (the caller answers 404 alike, so nothing tells which part was wrong)."""
    parts = _plain_parts(relative)
    if parts is None or not is_export_folder(parts[0]):
        return None
    run = _run(workspace, run_id)
    exports = _resolved(run / EXPORT_DIR) if run is not None else None
    if exports is None or exports.parent != run:
        return None  # no run, or an export folder that is a link leading elsewhere
    path = _resolved(exports.joinpath(*parts))
    if path is None or not path.is_relative_to(exports) or not path.is_file():
        return None
    return path


def report_file(workspace: Workspace, run_id: str, relative: str) -> Path | None:
    """`eval/step-N-SPLIT/report.json` or `.../predictions.jsonl` of run `run_id`, resolved; None for
    anything else, a link anywhere on the way included (a report is never a link)."""
    parts = _plain_parts(relative)
    if parts is None or len(parts) != 3 or parts[0] != EVAL_DIR:
        return None
    if not _REPORT_FOLDER.fullmatch(parts[1]) or parts[2] not in REPORT_FILES:
        return None
    run = _run(workspace, run_id)
    if run is None:
        return None
    path = _resolved(run.joinpath(*parts))
    if path != run.joinpath(*parts) or not path.is_file():
        return None  # missing, or some part of it a link
    return path


def download_file(workspace: Workspace, run_id: str, relative: str) -> Path | None:
    """What a download link names: an export's file or a report's; None (404) for anything else."""
    if str(relative).startswith(f"{EVAL_DIR}/"):
        return report_file(workspace, run_id, relative)
    return export_file(workspace, run_id, relative)
