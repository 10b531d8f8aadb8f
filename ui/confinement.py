"""What a logged-in dashboard user may name: paths in their own workspace, and what the admin allowed.

Behind a login several users share one server, its disk and its cloud credentials. Every local path
a user can type (data sources of every kind, model sources, checkpoint folders, run ids) must
resolve (symlinks and `..` followed) inside `<root>/users/<name>/` or a folder the admin allowed with
`--allow-path`; a gs:// URI must lie under an allowed prefix (the server's credentials read it); a
webhook may not point the server at loopback, link-local or private addresses. Relative paths are
taken from the workspace and come back absolute, because the server and its jobs run elsewhere.

Without a login (`Workspace.confined` False) the machine's owner uses the dashboard, and every
path is taken as given. Refusals never show the server's absolute paths. No Panel import.
"""

from __future__ import annotations

import dataclasses
import ipaddress
import os
import re
import socket
from pathlib import Path
from urllib.parse import urlsplit

from gemma_jax.config.convert import is_str_tuple, strip_optional
from gemma_jax.config.fields import field_specs
from gemma_jax.config.job_config import DataConfig, JobConfig
from gemma_jax.data.formats import HUB_PREFIXES
from gemma_jax.data.readers import EXAMPLE_DATASET
from gemma_jax.models.sources.kinds import EMBEDDED_MODEL, GCS_PREFIX, HF_PREFIX, KAGGLE_PREFIX
from gemma_jax.runs.run_store import RunDirError, RunStore
from ui.state.config_fields import get_field, set_field
from ui.workspace import Workspace

# The fields that name a file, folder or URL (`names_a_path=True` where JobConfig declares them), each with
# the check a logged-in user's value must pass (tests enforce that the two agree).
PATH_FIELDS = {
    "runs_dir": "runs_dir_field",
    "data.train_path": "data_source",
    "data.validation_path": "data_source",
    "data.test_path": "data_source",
    "data.data_dir": "data_dir",
    "model.source": "model_source",
    "model.adapter": "adapter_dir",
    "checkpoint.directory": "checkpoint_dir",
    "train.webhook_url": "webhook_url",
    "eval.custom_metrics": "custom_metrics",
}
# The str fields that name no path, by their own declaration (`names_a_path` in gemma_jax/config).
NOT_PATH_FIELDS = frozenset(
    path
    for path, spec in field_specs().items()
    if not spec.names_a_path and (strip_optional(spec.value_type) is str or is_str_tuple(spec.value_type))
)
UPLOAD_HINT = "upload the file on the Data step, or give a path inside your workspace such as uploads/NAME"
# Names the Hugging Face Hub or Keras-Hub resolve remotely: no '..', at most one '/' (owner/name).
_HUB_DATASET = re.compile(r"[A-Za-z0-9][\w.-]*(/[A-Za-z0-9][\w.-]*)?")
_PRESET_NAME = re.compile(r"[A-Za-z0-9][\w.-]*")
_TFDS_NAME = re.compile(r"[A-Za-z0-9][\w]*(/[\w.-]+)?(:[\w.*]+)?")


class ConfinementError(ValueError):
    """A path, source or URL a logged-in user may not use; the message says what to do instead."""


def _under(path: Path, folder: Path) -> bool:
    return path == folder or path.is_relative_to(folder)


def _under_prefix(uri: str, prefix: str) -> bool:
    """`uri` is `prefix` or lies below it on a '/' boundary (gs://b/shared does not cover gs://b/shared-x)."""
    prefix = prefix.rstrip("/")
    return uri == prefix or uri.startswith(prefix + "/")


def _resolve(path: Path) -> Path | None:
    try:
        return path.resolve()
    except (OSError, RuntimeError):  # a symlink loop
        return None


@dataclasses.dataclass(frozen=True)
class Confinement:
    """The rule for one session: `root` None means unconfined (every path taken as given)."""

    runs_dir: Path
    root: Path | None = None  # the resolved workspace of a logged-in user
    allowed_dirs: tuple[Path, ...] = ()  # resolved folders the admin lets every user read
    allowed_prefixes: tuple[str, ...] = ()  # gs:// and http(s):// prefixes the admin allowed

    @classmethod
    def for_workspace(cls, workspace: Workspace) -> Confinement:
        if not workspace.confined:
            return cls(runs_dir=Path(workspace.runs_dir))
        dirs = [_resolve(Path(entry).expanduser()) for entry in workspace.allowed if "://" not in entry]
        return cls(
            runs_dir=Path(workspace.runs_dir),
            root=Path(workspace.root).resolve(),
            allowed_dirs=tuple(d for d in dirs if d is not None),
            allowed_prefixes=tuple(entry for entry in workspace.allowed if "://" in entry),
        )

    @property
    def confined(self) -> bool:
        return self.root is not None

    # -- local paths ----------------------------------------------------------------------------
    def local_path(self, text: str, *, write: bool = False) -> Path:
        """The resolved path `text` names, which must lie in the workspace (or, unless `write`, in an
        allowed folder); relative paths start from the workspace. Unconfined: the path as given."""
        text = str(text).strip()
        if not self.confined:
            return Path(text).expanduser()
        if not text or "\0" in text:
            raise ConfinementError(f"give a path inside your workspace; {UPLOAD_HINT}")
        resolved = _resolve(self.root / Path(text).expanduser())
        if resolved is not None and _under(resolved, self.root):
            return resolved
        if resolved is not None and not write and any(_under(resolved, d) for d in self.allowed_dirs):
            return resolved
        where = "your workspace" if write else "your workspace and the folders this server shares"
        raise ConfinementError(f"that path is outside {where}; {UPLOAD_HINT}")

    def shown(self, path: str | Path) -> str:
        """How a path is shown to the user: relative to the workspace, never the server's absolute path."""
        if not self.confined:
            return str(path)
        resolved = _resolve(self.root / Path(path))
        if resolved is not None and _under(resolved, self.root):
            return resolved.relative_to(self.root).as_posix() or "."
        return "(a path outside your workspace)"

    def redact(self, text: str) -> str:
        """`text` (a message) with the workspace's absolute path made relative and the server's hidden."""
        if not self.confined:
            return text
        roots = dict.fromkeys((self.root, Path(os.path.abspath(self.runs_dir)).parent))
        for root in roots:
            text = text.replace(f"{root}/", "").replace(str(root), "your workspace")
        for server in dict.fromkeys(root.parent.parent for root in roots):  # <root> of <root>/users/<name>
            if len(server.parts) > 1:
                text = text.replace(str(server), "(server folder)")
        return text

    def _remote_or_local(self, name: str, pattern: re.Pattern) -> Path | None:
        """None when `name` is a remote (Hub) name; else the local path it names, confined.

        A name that exists relative to the server's working folder would be read from there by the
        readers and loaders, so it is refused rather than taken as a Hub name."""
        if not pattern.fullmatch(name) or ".." in name or (self.root / name).exists():
            return self.local_path(name)
        if Path(name).exists():
            raise ConfinementError(
                f"{name} is also a file or folder on the server, outside your workspace; {UPLOAD_HINT}"
            )
        return None

    # -- data -----------------------------------------------------------------------------------
    def data_source(self, text: str, data: DataConfig | None = None) -> str:
        """A data source as it goes into the config: 'example', a gs:// URI, hf:/tfds: names, or an
        absolute local path inside the workspace. `data` (the DataConfig) says how bare names are read."""
        text = str(text).strip()
        if not self.confined or text == EXAMPLE_DATASET:
            return text
        if text.lower().startswith(GCS_PREFIX):
            return self.gs_uri(text)
        kind, prefix, name = "file", "", text
        for candidate, candidate_kind in sorted(HUB_PREFIXES.items(), key=lambda kv: -len(kv[0])):
            if text.startswith(candidate):
                kind, prefix, name = candidate_kind, candidate, text[len(candidate) :]
                break
        else:
            if data is not None and data.source in ("hf", "tfds"):
                kind = data.source
        if kind == "file":
            return str(self.local_path(text))
        if data is not None and data.data_dir:
            self.data_dir(data.data_dir)
        if kind == "tfds":
            if not _TFDS_NAME.fullmatch(name):
                raise ConfinementError(f"{text} is not a TFDS dataset name; give tfds:NAME, e.g. tfds:mnist")
            if data is None or not data.data_dir:
                self._tfds_default_dir()
            return text
        local = self._remote_or_local(name, _HUB_DATASET)
        return text if local is None else f"{prefix}{local}"

    def _tfds_default_dir(self) -> None:
        """TFDS's shared data folder (TFDS_DATA_DIR or ~/tensorflow_datasets) holds every user's datasets."""
        default = os.environ.get("TFDS_DATA_DIR") or "~/tensorflow_datasets"
        try:
            self.gs_uri(default) if default.lower().startswith(GCS_PREFIX) else self.local_path(default)
        except ConfinementError:
            raise ConfinementError(
                "tfds: datasets are read from the server's shared TFDS folder, which is not shared with you; "
                "set data.data_dir to a folder in your workspace that holds the prepared dataset"
            ) from None

    def data_dir(self, text: str) -> str:
        """data.data_dir (a TFDS data folder or Hugging Face cache): a gs:// URI or a local folder, confined."""
        text = str(text).strip()
        if not self.confined:
            return text
        return self.gs_uri(text) if text.lower().startswith(GCS_PREFIX) else str(self.local_path(text))

    # -- models ---------------------------------------------------------------------------------
    def model_source(self, text: str) -> str:
        """A model source as it goes into the config. Hub names and handles (gemma3_270m, Keras-Hub
        presets, kaggle://, hf://, tiny:/random:) are not local paths; preset folders, checkpoint
        folders and .gguf files are, and are confined."""
        text = str(text).strip()
        if not self.confined:
            return text
        if not text:
            raise ConfinementError("choose a model, e.g. gemma3_270m or tiny:gemma3")
        kind, sep, name = text.partition(":")
        if sep and kind in ("tiny", "random") and name and not name.startswith("//"):
            return text
        lowered = text.lower()
        if text == EMBEDDED_MODEL or lowered.startswith((KAGGLE_PREFIX, HF_PREFIX)):
            return text
        if lowered.startswith(GCS_PREFIX):
            return self.gs_uri(text)
        if lowered.endswith(".gguf"):
            return str(self.local_path(text))
        local = self._remote_or_local(text, _PRESET_NAME)
        return text if local is None else str(local)

    def adapter_dir(self, text: str) -> str:
        """model.adapter: a local PEFT adapter folder, read by the run, so confined (reading allowed folders)."""
        text = str(text).strip()
        if not self.confined:
            return text
        return str(self.local_path(text))

    # -- checkpoints, runs ----------------------------------------------------------------------
    def checkpoint_dir(self, text: str) -> str:
        """checkpoint.directory: written and pruned by the run, so inside the workspace (or gs://, allowed)."""
        text = str(text).strip()
        if not self.confined:
            return text
        if text.lower().startswith(GCS_PREFIX):
            return self.gs_uri(text)
        return str(self.local_path(text, write=True))

    def runs_dir_field(self, text: str) -> str:
        """runs_dir: a logged-in user's runs always go to their own runs folder."""
        if not self.confined:
            return str(text)
        if _resolve(self.root / Path(str(text).strip())) != _resolve(self.runs_dir):
            raise ConfinementError("runs go to your workspace's runs folder; leave runs_dir as the wizard sets it")
        return str(self.runs_dir)

    def run_dir(self, run_id: str) -> Path:
        """The folder of run `run_id` of this workspace; refused for ids that would leave it (../x, a/b)."""
        run_id = str(run_id)
        plain = bool(run_id) and run_id == Path(run_id).name and not run_id.startswith(".")
        path = self.runs_dir / run_id
        if plain and self.confined:
            resolved = _resolve(path)
            plain = resolved is not None and resolved.parent == _resolve(self.runs_dir)
        if not plain:
            raise ConfinementError("that run is not in your workspace; pick one on the Runs page")
        return path

    def run_problems(self, run_dir: Path, *, training: bool = False) -> list[str]:
        """Why the run's own config (perhaps written before these checks) may not be used here: its
        model, data and checkpoints, and with `training` (a resume) its webhook too."""
        if not self.confined:
            return []
        try:
            cfg = RunStore.open(run_dir).config()
        except (RunDirError, ValueError, OSError):
            return []  # an unreadable run: the page that opens it says so
        cfg = dataclasses.replace(cfg, runs_dir=str(self.runs_dir))
        if not training:
            cfg = set_field(cfg, "train.webhook_url", None)
        return self.config_problems(cfg)

    def custom_metrics(self, specs) -> tuple[str, ...]:
        """Refused for a logged-in user: a custom metric is Python code the evaluation imports and runs
        as the server's user, with every other user's files in reach."""
        raise ConfinementError(
            "custom metrics run your own Python code on the server, which a shared dashboard does not allow; "
            "remove eval.custom_metrics, or run `gemma-jax evaluate RUN --custom-metrics module:function` "
            "on a machine of your own"
        )

    # -- remote ---------------------------------------------------------------------------------
    def gs_uri(self, text: str) -> str:
        """A gs:// URI under a prefix the admin allowed (the server's credentials read and write it)."""
        text = str(text).strip()
        if not self.confined:
            return text
        if not text.lower().startswith(GCS_PREFIX):
            raise ConfinementError("give a gs://bucket/path URI")
        uri = GCS_PREFIX + text[len(GCS_PREFIX) :]
        parts = uri[len(GCS_PREFIX) :].split("/")
        if not parts[0] or any(part in (".", "..") for part in parts):
            raise ConfinementError("give a gs://bucket/path URI without '.' or '..' parts")
        allowed = [p for p in self.allowed_prefixes if p.lower().startswith(GCS_PREFIX)]
        if any(_under_prefix(uri, prefix) for prefix in allowed):
            return uri
        shared = f"allowed here: {', '.join(allowed)}" if allowed else "this server allows none"
        raise ConfinementError(
            "gs:// paths are read with the server's credentials, so only the prefixes the admin allowed "
            f"(--allow-path) can be used ({shared}); {UPLOAD_HINT}"
        )

    def webhook_url(self, text: str) -> str:
        """train.webhook_url: http(s) to a public address, so a user cannot make the server call
        loopback, link-local (cloud metadata) or private addresses, unless the admin allowed the URL."""
        text = str(text).strip()
        if not self.confined:
            return text
        allowed = [p for p in self.allowed_prefixes if p.lower().startswith(("http://", "https://"))]
        if any(_under_prefix(text, prefix) for prefix in allowed):
            return text
        try:
            parts = urlsplit(text)
            port = parts.port or (443 if parts.scheme == "https" else 80)
        except ValueError:
            parts, port = None, 0
        if parts is None or parts.scheme not in ("http", "https") or not parts.hostname:
            raise ConfinementError("give an http(s) URL, e.g. https://example.com/hooks/gemma")
        try:
            addresses = {info[4][0] for info in socket.getaddrinfo(parts.hostname, port, type=socket.SOCK_STREAM)}
        except (OSError, UnicodeError):
            raise ConfinementError(f"the host {parts.hostname} cannot be resolved from the server") from None
        for address in addresses:
            ip = ipaddress.ip_address(address.split("%")[0])
            if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped:
                ip = ip.ipv4_mapped  # ::ffff:127.0.0.1 is 127.0.0.1
            if not ip.is_global or ip.is_multicast:
                raise ConfinementError(
                    f"{parts.hostname} is a loopback, link-local or private address; webhooks go to public "
                    "http(s) addresses only (the admin can allow a URL with --allow-path)"
                )
        return text

    # -- whole configs --------------------------------------------------------------------------
    def field(self, path: str, value: str, cfg: JobConfig) -> str:
        """`value` for the config field `path` (one of PATH_FIELDS), normalized; ConfinementError if refused."""
        check = PATH_FIELDS[path]
        if check == "data_source":
            return self.data_source(value, cfg.data)
        return getattr(self, check)(value)

    def _checked(self, cfg: JobConfig) -> tuple[JobConfig, list[str]]:
        problems = []
        for path in PATH_FIELDS:
            value = get_field(cfg, path)
            if not value:
                continue  # an optional field left empty names nothing
            try:
                cfg = set_field(cfg, path, self.field(path, value, cfg))
            except ConfinementError as err:
                problems.append(f"{path}: {err}")
        return cfg, problems

    def config_problems(self, cfg: JobConfig) -> list[str]:
        """Every path-like field of `cfg` that a logged-in user may not use, as 'field: what to do'."""
        return self._checked(cfg)[1] if self.confined else []

    def confine(self, cfg: JobConfig) -> JobConfig:
        """`cfg` as it may run for this user: runs_dir forced to theirs, local paths absolute; refused
        (ConfinementError listing every problem) when any field names what they may not use."""
        if not self.confined:
            return cfg
        cfg, problems = self._checked(dataclasses.replace(cfg, runs_dir=str(self.runs_dir)))
        if problems:
            raise ConfinementError("; ".join(problems))
        return cfg
