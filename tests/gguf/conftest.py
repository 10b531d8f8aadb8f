"""The transformers reference for the embedded Gemma 3 270M (scripts/make_gguf_parity_fixture.py writes it)."""

import json
import os

import pytest

FIXTURE = os.path.join(os.path.dirname(__file__), "fixtures", "gemma3_270m_reference.json")


@pytest.fixture(scope="module")
def reference():
    with open(FIXTURE, encoding="utf-8") as file:
        return json.load(file)
