"""Download links for a user's exports, and which file such a link may name (no Tornado, no Panel).

A merged model is hundreds of MB: sent through Panel's websocket (FileDownload) it is base64
in the browser tab's memory and several copies in the server's. So exports are plain links,
`downloads/<run_id>/<export folder>/<file>`, which `ui/download_route.py` streams from disk.
A link names a file in one of the workspace's runs' export folders and nothing else: no `..`,
no hidden names (half-written exports), no symlink leading out, no other user's workspace.
"""

from __future__ import annotations

import re
import unicodedata
from pathlib import Path
from urllib.parse import quote

from ui.confinement import Confinement, ConfinementError
from ui.workspace import OWNER_FILE, Workspace

DOWNLOAD_PREFIX = "downloads"
_EXPORT_FOLDER = re.compile(r"step-\d+(-[a-z]+)?")
_UNSAFE_IN_HEADER = re.compile(r"[^A-Za-z0-9._-]+")
CONTENT_TYPES = {
    ".zip": "application/zip",
    ".json": "application/json",
    ".md": "text/markdown; charset=utf-8",
    ".yaml": "text/yaml; charset=utf-8",
}


def download_url(run_id: str, relative: str) -> str:
    """The link (relative to the dashboard's page) to `relative`, a path under the run's export folder."""
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


def export_file(workspace: Workspace, run_id: str, relative: str) -> Path | None:
    """The file `relative` names in run `run_id`'s export folder of `workspace`, resolved; None for
    anything else (the caller answers 404 alike, so nothing tells which part was wrong)."""
    parts = str(relative).split("/")
    if any(not part or part.startswith(".") or "\\" in part or "\0" in part for part in parts):
        return None  # '..', '.', '', hidden names and half-written exports, absolute paths
    if not _EXPORT_FOLDER.fullmatch(parts[0]) or not owns(workspace):
        return None
    try:
        run_dir = Confinement.for_workspace(workspace).run_dir(run_id)
    except ConfinementError:
        return None
    runs_dir, run = _resolved(Path(workspace.runs_dir)), _resolved(run_dir)
    exports = _resolved(run_dir / "export")
    if runs_dir is None or run is None or exports is None or run.parent != runs_dir or exports.parent != run:
        return None  # a run or an export folder that is a link leading elsewhere
    path = _resolved(exports.joinpath(*parts))
    if path is None or not path.is_relative_to(exports) or not path.is_file():
        return None
    return path
