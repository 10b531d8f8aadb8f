"""Test setup: 8 simulated CPU devices and the JAX backend for Keras, before anything imports JAX."""

import os
import tempfile
from typing import NamedTuple

import pytest

os.environ["XLA_FLAGS"] = os.environ.get("XLA_FLAGS", "") + " --xla_force_host_platform_device_count=8"
os.environ.setdefault("KERAS_BACKEND", "jax")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
# Training runs keep compiled steps in a persistent XLA cache (train.compilation_cache): one per test session,
# shared by its workers and the jobs they start, never the user's ~/.cache.
os.environ.setdefault("GEMMA_JAX_XLA_CACHE", os.path.join(tempfile.gettempdir(), f"gemma-jax-test-xla-{os.getppid()}"))


def pytest_collection_modifyitems(config, items):
    """Files with slow end-to-end tests first (each file kept whole), so parallel workers finish together."""
    slow_files = {item.path for item in items if item.get_closest_marker("slow")}
    items.sort(key=lambda item: item.path not in slow_files)


@pytest.fixture(scope="module", autouse=True)
def _release_compiled_programs():
    """After each test file, drop JAX's compiled programs and Keras' graph state: a worker runs hundreds of
    files and would otherwise keep every file's executables (~6 GB per worker by the end, enough for two
    workers plus their training subprocesses to meet the 24 GB OOM killer)."""
    yield
    import gc
    import sys

    if "jax" in sys.modules:
        sys.modules["jax"].clear_caches()
    if "keras" in sys.modules:
        sys.modules["keras"].backend.clear_session()
    gc.collect()


@pytest.fixture(scope="module")
def browser():
    """Debian's Chromium through Playwright (no browser download); missing, it fails in CI and skips elsewhere."""
    from ui.server_process import CHROMIUM, CHROMIUM_ARGS

    if not os.path.exists(CHROMIUM):
        message = f"{CHROMIUM} is missing: sudo apt-get install -y chromium (scripts/test.sh does it)"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    sync_api = pytest.importorskip("playwright.sync_api")
    with sync_api.sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


def _send_generation_on_download() -> None:
    """Have the emulator send `x-goog-generation` with every object download, as Cloud Storage does.

    gcp-storage-emulator leaves the header out, and tensorstore (Orbax's array storage) then takes the
    object's generation for 0 and refuses the next conditional write with it ("Malformed StorageGeneration").
    tensorstore downloads through objects.get (`/storage/v1/b/B/o/NAME?alt=media`), which calls the module's
    own `download`, so that name is replaced as well as the routes. Patched once, in place."""
    from gcp_storage_emulator import server
    from gcp_storage_emulator.exceptions import NotFound
    from gcp_storage_emulator.handlers import objects

    original = objects.download
    if getattr(original, "sends_generation", False):
        return

    def download(request, response, storage, *args, **kwargs):
        try:
            obj = storage.get_file_obj(request.params["bucket_name"], request.params["object_id"])
            response["x-goog-generation"] = str(obj["generation"])
            response["x-goog-metageneration"] = str(obj.get("metageneration", "1"))
        except NotFound:
            pass
        return original(request, response, storage, *args, **kwargs)

    download.sends_generation = True
    objects.download = download
    for _, handlers in server.HANDLERS:
        for method, handler in list(handlers.items()):
            if handler is original:
                handlers[method] = download


class Emulator(NamedTuple):
    client: object
    server: object
    url: str


@pytest.fixture
def gcs(monkeypatch, tmp_path):
    """A real Cloud Storage emulator (gcp-storage-emulator) on a free port, with an empty cache under tmp_path.

    Every client of the project reaches it: google-cloud-storage through STORAGE_EMULATOR_HOST, Orbax's
    paths (etils → gcsfs) through STORAGE_EMULATOR_HOST with EPATH_USE_TF=false, and Orbax's arrays
    (tensorstore) through TENSORSTORE_GCS_HTTP_URL. Yields (storage client, emulator server, its URL)."""
    import socket

    from gcp_storage_emulator.server import create_server

    from gemma_jax.cloud_storage import storage_client

    with socket.socket() as sock:
        sock.bind(("localhost", 0))
        port = sock.getsockname()[1]
    _send_generation_on_download()
    server = create_server("localhost", port, in_memory=True)
    server.start()
    host = f"http://localhost:{port}"
    for name, value in (
        ("STORAGE_EMULATOR_HOST", host),
        ("TENSORSTORE_GCS_HTTP_URL", host),
        ("EPATH_USE_TF", "false"),
        ("GOOGLE_CLOUD_PROJECT", "test"),
        ("GEMMA_JAX_CACHE", str(tmp_path / "cache")),
        ("GEMMA_JAX_HUB_TIMEOUT", "2"),
    ):
        monkeypatch.setenv(name, value)
    try:
        yield Emulator(storage_client(), server, host)
    finally:
        server.stop()
