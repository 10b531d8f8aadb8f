"""A logged-in user names only paths in their own workspace or what the admin allowed (ui/confinement.py),
and every page that takes a path, a model, a run id or a URL asks the same rule first."""

from __future__ import annotations

import dataclasses
import json
import os
import stat
from pathlib import Path

import pytest
from new_run_helpers import hardware

from gemma_jax.config import JobConfig
from gemma_jax.config.convert import field_types, is_str_tuple, strip_optional
from gemma_jax.config.fields import field_specs
from gemma_jax.config.job_config import DataConfig
from gemma_jax.runs import RunStore
from ui.confinement import NOT_PATH_FIELDS, PATH_FIELDS, Confinement, ConfinementError
from ui.state import data_check, wizard_model, wizard_review
from ui.state.checkpoint_picker import CheckpointPicker
from ui.state.config_fields import set_field
from ui.state.new_run import NewRunState
from ui.state.runs import RunsState
from ui.state.session import Session
from ui.workspace import Workspace

JSONL = '{"prompt": "p", "response": "r"}\n'


@dataclasses.dataclass
class Server:
    """A server root with alice (logged in), bob, a users file, a shared folder and a bob preset."""

    root: Path
    alice: Workspace
    bob: Workspace
    users_file: Path
    shared: Path

    @property
    def confinement(self) -> Confinement:
        return Confinement.for_workspace(self.alice)


@pytest.fixture
def server(tmp_path) -> Server:
    root = tmp_path / "server"
    shared = tmp_path / "shared"
    shared.mkdir()
    (shared / "team.jsonl").write_text(JSONL)
    allowed = (str(shared), "gs://team/shared/", "http://10.9.8.7/gemma/")  # a private hook the admin allowed
    alice = Workspace.for_user(root, "alice", allowed=allowed).ensure()
    bob = Workspace.for_user(root, "bob").ensure()
    (bob.uploads_dir / "secret.jsonl").write_text(JSONL)
    (alice.uploads_dir / "mine.jsonl").write_text(JSONL)
    users_file = tmp_path / "users.json"
    users_file.write_text(json.dumps({"alice": "alice-secret-1", "bob": "bob-secret-2"}))
    preset = bob.root / "preset"
    preset.mkdir()
    (preset / "config.json").write_text(json.dumps({"registered_name": "x", "class_name": "Gemma3Backbone"}))
    return Server(root, alice, bob, users_file, shared)


def _refused(call, *args, **kwargs) -> str:
    with pytest.raises(ConfinementError) as err:
        call(*args, **kwargs)
    return str(err.value)


def _no_server_path(message: str, server: Server) -> None:
    assert str(server.root) not in message and str(server.root.resolve()) not in message, message
    assert str(server.root.parent) not in message, message


def test_local_data_sources_outside_the_workspace_are_refused(server):
    c = server.confinement
    bob_secret = server.bob.uploads_dir / "secret.jsonl"
    attacks = [
        "/etc/passwd",
        str(server.users_file),
        str(bob_secret),
        "../bob/uploads/secret.jsonl",
        "uploads/../../bob/uploads/secret.jsonl",
        f"{server.alice.uploads_dir}/../../bob/uploads/secret.jsonl",
        "~/.ssh/id_rsa",
        f"hf:{server.users_file}",
        "hf:/etc/passwd",
        "hf:../bob/uploads/secret.jsonl",
        f"hf://{bob_secret}",
    ]
    for source in attacks:
        message = _refused(c.data_source, source)
        assert "outside your workspace" in message and "upload" in message
        _no_server_path(message, server)
    for field in ("data.train_path", "data.validation_path", "data.test_path"):
        cfg = set_field(JobConfig(runs_dir=str(server.alice.runs_dir)), field, str(bob_secret))
        assert [p.split(":")[0] for p in c.config_problems(cfg)] == [field]


def test_a_save_to_disk_folder_and_the_hf_source_setting_are_confined(server):
    c = server.confinement
    saved = server.bob.uploads_dir / "ds"
    saved.mkdir()
    (saved / "dataset_info.json").write_text("{}")
    _refused(c.data_source, str(saved))
    _refused(c.data_source, "../bob/uploads/ds")
    as_hf = DataConfig(source="hf")
    _refused(c.data_source, str(server.users_file), as_hf)
    mine = server.alice.uploads_dir / "ds"
    mine.mkdir()
    (mine / "dataset_info.json").write_text("{}")
    assert c.data_source("hf:uploads/ds") == f"hf:{mine.resolve()}"
    assert c.data_source("uploads/ds") == str(mine.resolve())


def test_inside_the_workspace_or_an_allowed_folder_is_used_and_made_absolute(server):
    c = server.confinement
    mine = (server.alice.uploads_dir / "mine.jsonl").resolve()
    assert c.data_source("uploads/mine.jsonl") == str(mine)
    assert c.data_source(str(server.alice.uploads_dir / "mine.jsonl")) == str(mine)
    assert c.data_source(str(server.shared / "team.jsonl")) == str((server.shared / "team.jsonl").resolve())
    assert c.data_source("example") == "example"
    assert c.data_source("hf:someone/dataset") == "hf:someone/dataset"  # a Hub name, not a path
    assert c.shown(mine) == "uploads/mine.jsonl"


def test_a_symlink_out_of_the_workspace_is_refused(server):
    c = server.confinement
    (server.alice.uploads_dir / "link.jsonl").symlink_to(server.bob.uploads_dir / "secret.jsonl")
    (server.alice.uploads_dir / "bobs").symlink_to(server.bob.root, target_is_directory=True)
    for source in ("uploads/link.jsonl", "uploads/bobs/uploads/secret.jsonl", "hf:uploads/bobs/preset"):
        _refused(c.data_source, source)
    _refused(c.model_source, "uploads/bobs/preset")


def test_a_hub_name_that_is_also_a_server_file_is_refused(server, monkeypatch):
    monkeypatch.chdir(server.users_file.parent)  # the readers would open users.json from here
    c = server.confinement
    message = _refused(c.data_source, "hf:users.json")
    _no_server_path(message, server)
    _refused(c.data_source, str(server.users_file.name), DataConfig(source="hf"))


def test_tfds_needs_a_data_dir_in_the_workspace_or_an_allowed_default(server, monkeypatch):
    c = server.confinement
    data = JobConfig().data
    monkeypatch.delenv("TFDS_DATA_DIR", raising=False)
    assert "shared TFDS folder" in _refused(c.data_source, "tfds:mnist", data)
    outside = dataclasses.replace(data, data_dir=str(server.bob.root))
    _refused(c.data_source, "tfds:mnist", outside)
    inside = dataclasses.replace(data, data_dir=str(server.alice.root / "tfds"))
    assert c.data_source("tfds:mnist", inside) == "tfds:mnist"
    _refused(c.data_source, "tfds:../../etc", inside)
    monkeypatch.setenv("TFDS_DATA_DIR", str(server.shared))
    assert c.data_source("tfds:mnist", data) == "tfds:mnist"
    cfg = dataclasses.replace(JobConfig(runs_dir=str(server.alice.runs_dir)), data=outside)
    assert [p.split(":")[0] for p in c.config_problems(cfg)] == ["data.data_dir"]
    relative = dataclasses.replace(cfg, data=dataclasses.replace(data, data_dir="tfds"))
    assert c.confine(relative).data.data_dir == str((server.alice.root / "tfds").resolve())


def test_model_sources(server):
    c = server.confinement
    for hub in ("gemma3_270m", "gemma3_instruct_1b", "kaggle://keras/gemma3/keras/gemma3_1b/3", "hf://google/x"):
        assert c.model_source(hub) == hub
    assert c.model_source("tiny:gemma3") == "tiny:gemma3" and c.model_source("random:gemma") == "random:gemma"
    for attack in (str(server.bob.root / "preset"), "../bob/preset", "/tmp/other.gguf", "../bob/m.gguf", "/etc"):
        message = _refused(c.model_source, attack)
        assert "outside your workspace" in message
        _no_server_path(message, server)
    (server.alice.root / "exports").mkdir()
    assert c.model_source("exports") == str((server.alice.root / "exports").resolve())
    assert c.model_source("models/m.gguf") == str((server.alice.root / "models" / "m.gguf").resolve())


def test_gs_uris_only_under_an_allowed_prefix(server):
    c = server.confinement
    assert c.gs_uri("gs://team/shared/data.jsonl") == "gs://team/shared/data.jsonl"
    assert c.model_source("GS://team/shared/model") == "gs://team/shared/model"
    for attack in ("gs://team/private/x", "gs://team/shared-evil/x", "gs://team/shared/../private/x", "gs://"):
        _refused(c.gs_uri, attack)
    assert "allowed here: gs://team/shared/" in _refused(c.data_source, "gs://other/bucket.jsonl")
    assert "this server allows none" in _refused(Confinement.for_workspace(server.bob).gs_uri, "gs://team/shared/x")


def test_checkpoint_directory_runs_dir_and_run_ids(server):
    c = server.confinement
    assert c.checkpoint_dir("ckpt") == str((server.alice.root / "ckpt").resolve())
    _refused(c.checkpoint_dir, str(server.shared))  # read-only share: keep-N pruning would delete there
    _refused(c.checkpoint_dir, str(server.bob.runs_dir))
    assert c.checkpoint_dir("gs://team/shared/ckpt") == "gs://team/shared/ckpt"
    cfg = JobConfig(runs_dir=str(server.bob.runs_dir))
    assert [p.split(":")[0] for p in c.config_problems(cfg)] == ["runs_dir"]
    assert c.confine(cfg).runs_dir == str(server.alice.runs_dir)
    for run_id in ("../x", "a/b", ".hidden", "", "..", str(server.bob.runs_dir / "r")):
        _refused(c.run_dir, run_id)
    (server.bob.runs_dir / "bobs-run").mkdir()
    (server.alice.runs_dir / "sneaky").symlink_to(server.bob.runs_dir / "bobs-run", target_is_directory=True)
    _refused(c.run_dir, "sneaky")
    assert c.run_dir("mine") == server.alice.runs_dir / "mine"


@pytest.mark.parametrize(
    "url",
    [
        "http://169.254.169.254/computeMetadata/v1/",
        "http://127.0.0.1:5006/",
        "http://localhost/",
        "http://[::1]/",
        "http://[::ffff:127.0.0.1]/",
        "http://10.1.2.3/hook",
        "http://192.168.0.1/hook",
        "http://0x7f000001/",
        "http://0.0.0.0/",
        "ftp://8.8.8.8/x",
        "file:///etc/passwd",
        "http://10.9.8.7/gemma-evil/x",
    ],
)
def test_webhooks_to_internal_addresses_are_refused(server, url):
    _refused(server.confinement.webhook_url, url)
    cfg = set_field(JobConfig(runs_dir=str(server.alice.runs_dir)), "train.webhook_url", url)
    assert [p.split(":")[0] for p in server.confinement.config_problems(cfg)] == ["train.webhook_url"]


def test_public_and_allowed_webhooks_pass(server):
    c = server.confinement
    assert "private address" in _refused(c.webhook_url, "http://169.254.169.254/computeMetadata/v1/")
    assert c.webhook_url("https://8.8.8.8/hook") == "https://8.8.8.8/hook"
    assert c.webhook_url("http://10.9.8.7/gemma/run") == "http://10.9.8.7/gemma/run"


def test_without_a_login_every_path_is_taken_as_given(tmp_path, server):
    c = Confinement.for_workspace(Workspace.for_user(tmp_path / "ws", None).ensure())
    assert not c.confined
    assert c.data_source(f"hf:{server.users_file}") == f"hf:{server.users_file}"
    assert c.model_source(str(server.bob.root / "preset")) == str(server.bob.root / "preset")
    assert c.webhook_url("http://127.0.0.1/") == "http://127.0.0.1/"
    assert c.gs_uri("gs://any/thing") == "gs://any/thing"
    cfg = set_field(JobConfig(), "data.train_path", "/etc/passwd")
    assert c.config_problems(cfg) == [] and c.confine(cfg) is cfg
    _refused(c.run_dir, "../x")  # run ids never leave the runs folder


def _str_fields(cls, prefix: str = "") -> set[str]:
    found = set()
    for name, tp in field_types(cls).items():
        tp = strip_optional(tp)
        if dataclasses.is_dataclass(tp):
            found |= _str_fields(tp, f"{prefix}{name}.")
        elif tp is str or is_str_tuple(tp):
            found.add(f"{prefix}{name}")
    return found


def test_custom_metrics_are_refused_to_a_logged_in_user(server, tmp_path):
    """A custom metric is code the evaluation imports: on a shared dashboard it would run as the server."""
    cfg = set_field(JobConfig(runs_dir=str(server.alice.runs_dir)), "eval.custom_metrics", ("evil:steal",))
    problems = server.confinement.config_problems(cfg)
    assert [p.split(":")[0] for p in problems] == ["eval.custom_metrics"]
    assert "Python code" in problems[0] and "--custom-metrics" in problems[0]
    assert server.confinement.config_problems(set_field(cfg, "eval.custom_metrics", ())) == []
    store = RunStore.create(cfg, run_id="with-metric")  # written before the check, e.g. by the CLI
    assert any(p.startswith("eval.custom_metrics") for p in server.confinement.run_problems(store.path))


def test_every_str_field_of_the_config_is_classified_as_a_path_or_not():
    """A new str field must be added to PATH_FIELDS (and checked) or to NOT_PATH_FIELDS (and why)."""
    fields = _str_fields(JobConfig)
    assert not set(PATH_FIELDS) & NOT_PATH_FIELDS
    assert fields - set(PATH_FIELDS) - NOT_PATH_FIELDS == set(), "classify these fields in ui/confinement.py"
    assert set(PATH_FIELDS) | NOT_PATH_FIELDS == fields, "ui/confinement.py names fields JobConfig lacks"
    for check in PATH_FIELDS.values():
        assert callable(getattr(Confinement, check))
    declared = {path for path, spec in field_specs().items() if spec.names_a_path}
    assert set(PATH_FIELDS) == declared, "a field declared names_a_path=True needs its check in PATH_FIELDS"


def _wizard(server: Server, runner=None) -> NewRunState:
    wizard = NewRunState(Session(server.alice, runner), hardware=hardware())
    wizard.config = JobConfig(runs_dir=str(server.alice.runs_dir))
    return wizard


def test_the_data_step_refuses_and_reads_nothing(server, monkeypatch):
    read = []
    monkeypatch.setattr(data_check, "build_report", lambda *a, **k: read.append(a) or pytest.fail("read"))
    before = data_check._tiny_tokenizer.cache_info().currsize
    wizard = _wizard(server)
    for source in (f"hf:{server.users_file}", "/etc/passwd", str(server.bob.uploads_dir / "secret.jsonl")):
        assert not wizard.data.use_source(source)
        assert "outside your workspace" in wizard.data.error
        _no_server_path(wizard.data.error, server)
        assert wizard.config.data.train_path == "example" and wizard.data.result is None
    assert read == [] and data_check._tiny_tokenizer.cache_info().currsize == before
    assert not wizard.data.use_source("uploads/missing.jsonl")
    assert wizard.data.error.startswith("uploads/missing.jsonl does not exist")
    assert wizard.data.use_source("uploads/mine.jsonl")
    assert wizard.config.data.train_path == str((server.alice.uploads_dir / "mine.jsonl").resolve())
    with pytest.raises(ConfinementError):  # every field editor goes through set()
        wizard.set("data.validation_path", str(server.users_file))
    assert wizard.config.data.validation_path is None


def test_the_model_step_refuses_before_reading_the_folder(server, monkeypatch):
    shapes = []
    monkeypatch.setattr(wizard_model, "shape_for_source", lambda source: shapes.append(source))
    monkeypatch.setattr(wizard_review, "shape_for_source", lambda source: shapes.append(source))
    wizard = _wizard(server)
    bob_preset = str(server.bob.root / "preset")
    assert not wizard.model.choose(bob_preset)
    assert "outside your workspace" in wizard.model.error and wizard.config.model.source == "tiny:gemma3"
    wizard.model.architecture()
    assert wizard.model.choose("gemma3_270m") and wizard.model.error == ""
    # A config that names it anyway (set around the wizard) is refused before any estimate reads it.
    wizard.config = set_field(wizard.config, "model.source", bob_preset)
    problems = wizard.review.problems()
    assert problems and all(p.startswith("model.source:") for p in problems)
    assert bob_preset not in shapes


class FakeRunner:
    def __init__(self, active=(), queue=()):
        self.submitted, self._active, self._queue = [], list(active), list(queue)

    def submit(self, cfg):
        self.submitted.append(cfg)
        return RunStore.create(cfg, run_id="submitted")

    def active(self):
        return self._active

    def queue(self):
        return self._queue


def test_start_is_the_last_line_of_defence(server, monkeypatch):
    runner = FakeRunner()
    wizard = _wizard(server, runner)
    monkeypatch.setattr(type(wizard.review), "problems", lambda self: [])  # whatever the steps let through
    wizard.config = set_field(wizard.config, "data.train_path", str(server.bob.uploads_dir / "secret.jsonl"))
    assert wizard.review.start() is None and runner.submitted == []
    message = wizard.session.notifications[-1][2]
    assert "data.train_path" in message and "outside your workspace" in message
    _no_server_path(message, server)
    wizard.config = set_field(wizard.config, "data.train_path", "uploads/mine.jsonl")
    wizard.config = set_field(wizard.config, "runs_dir", str(server.bob.runs_dir))
    assert wizard.review.start() == "submitted"
    (cfg,) = runner.submitted
    assert cfg.runs_dir == str(server.alice.runs_dir)
    assert cfg.data.train_path == str((server.alice.uploads_dir / "mine.jsonl").resolve())


def test_a_cloned_run_naming_another_users_files_is_refused(server):
    wizard = _wizard(server)
    wizard.session.clone_config = set_field(JobConfig(), "model.source", str(server.bob.root / "preset"))
    assert not wizard.take_clone() and wizard.config.model.source == "tiny:gemma3"
    assert "model.source" in wizard.session.notifications[-1][2]


def _run(workspace: Workspace, run_id: str, *fields: tuple[str, str]) -> RunStore:
    cfg = JobConfig(runs_dir=str(workspace.runs_dir))
    for path, value in fields:
        cfg = set_field(cfg, path, value)
    return RunStore.create(cfg, run_id=run_id)


def test_runs_page_counts_own_runs_and_guards_ids_and_old_configs(server):
    bob_run = _run(server.bob, "bobs")
    bob_run.update_status(state="queued")
    old = _run(server.alice, "old", ("model.source", str(server.bob.root / "preset")))
    old.update_status(state="failed")
    queued = _run(server.alice, "waiting")
    runner = FakeRunner(active=[str(bob_run.path)], queue=[str(bob_run.path), str(queued.path)])
    session = Session(server.alice, runner)
    state = RunsState(session)
    state.refresh()
    assert state.queue_text == "0 running · 1 queued"
    assert {row["run"]: row["state"] for row in state.rows}["waiting"] == "queued (#2)"
    assert "bobs" not in json.dumps(state.rows)
    state.select("old")
    state.resume_selected()
    assert "Cannot resume old" in session.notifications[-1][2] and "model.source" in session.notifications[-1][2]
    state.selected = "../../bob/runs/bobs"
    state.open_selected()
    assert session.selected_run is None and "not in your workspace" in session.notifications[-1][2]
    state.confirm_delete = "../../bob/runs/bobs"
    state.confirm()
    assert bob_run.path.is_dir()


def test_playground_evaluate_and_export_refuse_a_run_naming_foreign_paths(server):
    (server.bob.root / "ckpt" / "7").mkdir(parents=True)
    _run(server.alice, "foreign", ("checkpoint.directory", str(server.bob.root / "ckpt")))
    session = Session(server.alice)
    picker = CheckpointPicker(session)
    assert picker.run == "foreign" and picker.steps == []  # bob's folder is not listed
    assert "cannot be used here" in picker.problem() and "checkpoint.directory" in picker.problem()
    _no_server_path(picker.problem(), server)


def test_notifications_hide_the_servers_paths(server):
    session = Session(server.alice)
    session.notify(f"{server.alice.uploads_dir}/x.csv: broken; see {server.root.resolve()}/users/bob")
    message = session.notifications[-1][2]
    assert message.startswith("uploads/x.csv: broken")
    _no_server_path(message, server)


def test_workspace_folders_and_new_runs_are_private(server):
    for workspace in (server.alice, server.bob):
        for folder in (workspace.root, workspace.runs_dir, workspace.uploads_dir):
            assert stat.S_IMODE(folder.stat().st_mode) == 0o700
    previous = os.umask(0o077)  # the dashboard's umask
    try:
        store = _run(server.alice, "private")
    finally:
        os.umask(previous)
    assert stat.S_IMODE(store.path.stat().st_mode) == 0o700
    files = [p for p in store.path.rglob("*") if p.is_file()]
    assert files and all(stat.S_IMODE(p.stat().st_mode) == 0o600 for p in files)
