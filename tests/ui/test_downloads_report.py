"""An evaluation report's two files over the download route: report.json and predictions.jsonl of the
user's own runs, with their content types and an attachment name; nothing else of a run (its config,
attention arrays, checkpoints), nothing through a link, nothing of another user's workspace: all 404
alike, as for exports (tests/security/test_download_route.py drives the real server; here the route's
handler runs in a Tornado test application with the dashboard's own DashboardServer)."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest
from tornado.testing import AsyncHTTPTestCase
from tornado.web import Application

sys.path.insert(0, str(Path(__file__).parents[1] / "serve"))

from tiny_runs import untrained_run

from gemma_jax.export.formats import FORMATS
from ui.download_route import download_route
from ui.downloads import download_file, download_url, export_file, report_file
from ui.serve import DashboardServer
from ui.state.evaluate import EvaluateState
from ui.state.session import Session
from ui.workspace import Workspace, claim_user_folder

REPORT = {"format": 2, "step": 5, "split": "validation", "tuned": {"loss": 1.0}}
ROWS = b'{"index": 0, "prompt": "Hi"}\n{"index": 1, "prompt": "Bye"}\n'


def user_workspace(root: Path, user: str | None) -> Workspace:
    workspace = Workspace.for_user(root, user).ensure()
    if user:
        claim_user_folder(workspace.root, user)
    return workspace


def place_report(workspace: Workspace, run: str, step: int = 5) -> Path:
    """A run with an evaluation's folder as gemma_jax.evaluate leaves it, beside the run's other files."""
    run_dir = workspace.runs_dir / run
    folder = run_dir / "eval" / f"step-{step}-validation"
    folder.mkdir(parents=True, exist_ok=True)
    if not (run_dir / "config.yaml").exists():  # a real run (tiny_runs) keeps its own
        (run_dir / "config.yaml").write_text("name: secret\n")
    (folder / "report.json").write_text(json.dumps(REPORT))
    (folder / "predictions.jsonl").write_bytes(ROWS)
    (folder / "attention.npz").write_bytes(b"PK arrays")
    (run_dir / "eval" / "step-2-validation.json").write_text(json.dumps({**REPORT, "step": 2}))  # an older one
    return folder


@pytest.fixture
def two_users(tmp_path):
    alice, bob = user_workspace(tmp_path, "alice"), user_workspace(tmp_path, "bob")
    mine, theirs = place_report(alice, "done"), place_report(bob, "bobs-run")
    (mine.parent / "step-6-validation").mkdir()
    (mine.parent / "step-6-validation" / "report.json").symlink_to(theirs / "report.json")  # a link to bob's
    (mine.parent / "step-7-validation").symlink_to(theirs)  # a linked report folder
    (mine.parent / "step-8-validation").mkdir()
    (mine.parent / "step-8-validation" / ".report.json.x.tmp").write_text("{}")  # being written
    (mine.parent / "step-5-other").symlink_to(mine)  # not a split
    return alice, bob, mine


def test_a_users_report_files_are_named_and_nothing_else(two_users):
    alice, bob, mine = two_users
    assert report_file(alice, "done", "eval/step-5-validation/report.json") == mine / "report.json"
    assert download_file(alice, "done", "eval/step-5-validation/predictions.jsonl") == mine / "predictions.jsonl"
    assert download_file(bob, "bobs-run", "eval/step-5-validation/report.json") is not None
    refused = [
        ("done", "eval/step-5-validation/attention.npz"),  # another file of the report's folder
        ("done", "eval/step-2-validation.json"),  # an older report: shown by its path, not served
        ("done", "config.yaml"),
        ("done", "eval/../config.yaml"),
        ("done", "eval/step-5-validation/../../config.yaml"),
        ("done", "eval/step-5-validation"),
        ("done", "eval/step-6-validation/report.json"),  # a link to bob's report
        ("done", "eval/step-7-validation/report.json"),  # a linked folder
        ("done", "eval/step-8-validation/.report.json.x.tmp"),
        ("done", "eval/step-5-other/report.json"),
        ("done", "eval/step-5-validation/report.json/"),
        ("done", "/eval/step-5-validation/report.json"),
        ("done", "eval/step-9-validation/report.json"),  # missing
        ("bobs-run", "eval/step-5-validation/report.json"),  # bob's run, asked in alice's workspace
        ("../bob/runs/bobs-run", "eval/step-5-validation/report.json"),
        ("..", "bob/runs/bobs-run/eval/step-5-validation/report.json"),
    ]
    for run, relative in refused:
        assert download_file(alice, run, relative) is None, (run, relative)
    (alice.root / ".owner").write_text("mallory")  # a folder that is not alice's
    assert download_file(alice, "done", "eval/step-5-validation/report.json") is None


def test_one_user_without_login_gets_the_shared_workspaces_reports(tmp_path):
    workspace = user_workspace(tmp_path, None)
    folder = place_report(workspace, "run-1")
    assert download_file(workspace, "run-1", "eval/step-5-validation/report.json") == folder / "report.json"
    assert download_url("run 1", "eval/step-5-validation/report.json") == (
        "downloads/run%201/eval/step-5-validation/report.json"
    )


def test_the_evaluate_page_links_the_shown_reports_files(tmp_path):
    """Each link names what download_file serves; behind a login, the place on the server is the
    workspace's, never the server's own folders."""
    workspace = user_workspace(tmp_path / "server", "alice")
    untrained_run(tmp_path, run_id="done", runs_dir=workspace.runs_dir)
    folder = place_report(workspace, "done")
    state = EvaluateState(Session(workspace))
    assert state.report["step"] == 5
    links = state.downloads()
    assert [(link["name"], link["size"]) for link in links] == [
        ("report.json", f"{len(json.dumps(REPORT))} B"),
        ("predictions.jsonl", f"{len(ROWS)} B"),
    ]
    for link, name in zip(links, ("report.json", "predictions.jsonl"), strict=True):
        assert link["url"] == f"downloads/done/eval/step-5-validation/{name}"
        assert link["server_path"] == f"runs/done/eval/step-5-validation/{name}"
        _prefix, run, relative = link["url"].split("/", 2)
        assert download_file(workspace, run, relative) == folder / name
    state.show(next(r["path"] for r in state.reports if r["step"] == 2))  # the older one-file report
    assert state.downloads() == []
    (folder / "predictions.jsonl").unlink()
    state.show(str(folder / "report.json"))
    assert [link["name"] for link in state.downloads()] == ["report.json"]


class ReportRouteTest(AsyncHTTPTestCase):
    """The real handler behind a login: the user is what the auth provider says (a cookie here)."""

    def get_app(self):
        import tempfile

        self._folder = tempfile.TemporaryDirectory()
        self.root = Path(self._folder.name)
        alice, bob = user_workspace(self.root, "alice"), user_workspace(self.root, "bob")
        self.mine, self.theirs = place_report(alice, "done"), place_report(bob, "bobs-run")
        dashboard = DashboardServer(self.root, None, login=True)
        app = Application([download_route(dashboard)])
        app.auth_provider = SimpleNamespace(
            get_user=lambda handler: handler.get_cookie("who"),
            get_user_async=None,
            get_login_url=None,
            login_url="/login",
        )
        app.prefix = ""
        return app

    def tearDown(self):
        super().tearDown()
        self._folder.cleanup()

    def get(self, path: str, user: str | None = "alice"):
        headers = {"Cookie": f"who={user}"} if user else {}
        return self.fetch(path, headers=headers, follow_redirects=False)

    def test_the_report_files_come_as_attachments_with_their_types(self):
        report = self.get("/downloads/done/eval/step-5-validation/report.json")
        assert report.code == 200 and json.loads(report.body) == REPORT
        assert report.headers["Content-Type"] == "application/json"
        assert report.headers["Content-Disposition"].startswith('attachment; filename="report.json"')
        rows = self.get("/downloads/done/eval/step-5-validation/predictions.jsonl")
        assert rows.code == 200 and rows.body == ROWS
        assert rows.headers["Content-Type"] == "application/x-ndjson"
        assert rows.headers["Content-Length"] == str(len(ROWS))
        assert rows.headers["Content-Disposition"].startswith('attachment; filename="predictions.jsonl"')
        assert self.get("/downloads/bobs-run/eval/step-5-validation/report.json", user="bob").code == 200

    def test_no_login_goes_to_the_login_page_and_nothing_else_is_served(self):
        anonymous = self.get("/downloads/done/eval/step-5-validation/report.json", user=None)
        assert anonymous.code == 302 and anonymous.headers["Location"].startswith("/login?next=%2Fdownloads%2Fdone")
        for path in (
            "/downloads/done/eval/step-5-validation/attention.npz",
            "/downloads/done/config.yaml",
            "/downloads/done/eval/step-2-validation.json",
            "/downloads/bobs-run/eval/step-5-validation/report.json",  # bob's, asked by alice
            "/downloads/done/eval/step-5-validation/../../config.yaml",
            "/downloads/done/eval/step-5-validation/%2e%2e/%2e%2e/config.yaml",
            "/downloads/%2e%2e/bob/runs/bobs-run/eval/step-5-validation/report.json",
        ):
            response = self.get(path)
            assert response.code == 404, path
            assert b"secret" not in response.body and str(self.root).encode() not in response.body
        assert self.get("/downloads/done/eval/step-5-validation/report.json", user="bob").code == 404


@pytest.mark.parametrize("kind", [*FORMATS, "merged"])
def test_every_export_formats_files_are_served(tmp_path, kind):
    """Each format's folder (step-N-gguf-q4_k_m included) serves its files; a name no export has does not."""
    workspace = user_workspace(tmp_path, None)
    folder = workspace.runs_dir / "run" / "export" / f"step-3-{kind}"
    folder.mkdir(parents=True)
    (folder / "run-step-3.zip").write_bytes(b"PK")
    assert export_file(workspace, "run", f"step-3-{kind}/run-step-3.zip") == (folder / "run-step-3.zip").resolve()
    other = workspace.runs_dir / "run" / "export" / "step-3-gguf-q2_x"
    other.mkdir()
    (other / "a.zip").write_bytes(b"PK")
    assert export_file(workspace, "run", "step-3-gguf-q2_x/a.zip") is None
