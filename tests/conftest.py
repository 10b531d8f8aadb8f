"""Test setup: 8 simulated CPU devices and the JAX backend for Keras, before anything imports JAX."""

import os

import pytest

os.environ["XLA_FLAGS"] = os.environ.get("XLA_FLAGS", "") + " --xla_force_host_platform_device_count=8"
os.environ.setdefault("KERAS_BACKEND", "jax")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")


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
