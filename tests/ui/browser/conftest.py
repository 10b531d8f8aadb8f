"""A real dashboard server and Debian's Chromium for the browser tests (Playwright, no browser download)."""

from __future__ import annotations

from pathlib import Path

import pytest

ARTIFACTS = Path(__file__).resolve().parents[3] / "test-artifacts" / "browser"


@pytest.fixture
def artifacts() -> Path:
    """Where screenshots go (test-artifacts/browser/, kept after the run for people to look at)."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    return ARTIFACTS
