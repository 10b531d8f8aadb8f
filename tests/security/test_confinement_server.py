"""Logged in as alice on a real `gemma-jax ui --basic-auth users.json`, Chromium types into the New-run
wizard the paths a curious user would try: the server's users file (through hf:), /etc/passwd, bob's
upload, bob's model folder. Each is refused in words, and nothing of them, nor the server's own
folders, appears anywhere on the page."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from security_helpers import USERS, login

TIMEOUT = 60_000
BOB_SECRET = "bob-private-prompt-7731"
BOB_VOCABULARY = 48611  # shown as "48,611 tokens" if bob's preset were ever read
# Every text node of the page, shadow roots included (Panel renders its widgets inside them).
PAGE_TEXT = """() => { const parts = [];
  const visit = node => { if (node.nodeType === 3) parts.push(node.nodeValue);
    if (node.shadowRoot) visit(node.shadowRoot); for (const child of node.childNodes) visit(child); };
  visit(document.body); return parts.join(" "); }"""


@pytest.fixture(scope="module")
def bob_files(secure_server) -> dict[str, Path]:
    """bob's upload and exported preset, made on the server's disk before alice logs in."""
    bob = secure_server.root / "users" / "bob"
    (bob / "uploads").mkdir(parents=True, exist_ok=True)
    upload = bob / "uploads" / "secret.jsonl"
    upload.write_text(json.dumps({"prompt": BOB_SECRET, "response": "mine"}) + "\n")
    preset = bob / "runs" / "done" / "export" / "step-4" / "preset"
    preset.mkdir(parents=True, exist_ok=True)
    shape = {"vocabulary_size": BOB_VOCABULARY, "num_layers": 2, "hidden_dim": 64, "num_query_heads": 2}
    shape |= {"num_key_value_heads": 1, "head_dim": 32, "intermediate_dim": 128}
    (preset / "config.json").write_text(
        json.dumps({"registered_name": "keras_hub>Gemma3Backbone", "class_name": "Gemma3Backbone", "config": shape})
    )
    return {"upload": upload, "preset": preset}


def _go(page, name: str) -> None:
    page.locator(".gj-nav").get_by_text(name, exact=True).first.click()


def _submit(page, field: str, button: str | None, text: str) -> None:
    box = page.locator(f"{field} input")
    box.fill(text)
    if button:
        page.locator(f"{button} button").click()
    else:
        box.press("Enter")


def _refused(page, field: str, button: str | None, error: str, attack: str, before: str) -> str:
    """Type `before` (a source whose answer differs from a refusal), then the attack; the refusal's text."""
    _submit(page, field, button, before)
    if button:  # the Data step: a missing workspace file is named as such
        page.locator(error).get_by_text(f"{before} does not exist").wait_for(timeout=TIMEOUT)
    else:  # the Model step: a hub model clears the error
        page.locator(error).wait_for(state="hidden", timeout=TIMEOUT)
    _submit(page, field, button, attack)
    refusal = page.locator(error).get_by_text("outside your workspace")
    refusal.wait_for(timeout=TIMEOUT)
    return refusal.inner_text()


def _assert_nothing_leaked(page, server_root: Path) -> None:
    text = page.evaluate(PAGE_TEXT)
    assert "outside your workspace" in text  # the walk sees the widgets' text, so what follows means something
    for password in USERS.values():
        assert password not in text
    assert not re.search(r"root:[^\s:]*:0:0", text), "a line of /etc/passwd is on the page"
    assert BOB_SECRET not in text and f"{BOB_VOCABULARY:,}" not in text
    for root in {str(server_root), str(server_root.resolve())}:
        assert root not in text, "the server's workspace path is on the page"


def test_alice_cannot_read_the_users_file_etc_passwd_or_bobs_files(secure_server, browser, users_file, bob_files):
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    try:
        login(page, secure_server, "alice")
        _go(page, "New run")
        data = (".gj-newrun-source", ".gj-newrun-use-source", ".gj-newrun-data-error")
        attacks = [
            f"hf:{users_file}",
            str(users_file),
            "/etc/passwd",
            "hf:/etc/passwd",
            str(bob_files["upload"]),
            "../bob/uploads/secret.jsonl",
        ]
        for number, attack in enumerate(attacks):
            message = _refused(page, *data, attack, f"uploads/none-{number}.jsonl")
            assert "upload" in message
            _assert_nothing_leaked(page, secure_server.root)

        page.locator(".gj-newrun-next button").click()
        model = (".gj-newrun-model-source", None, ".gj-newrun-model-error")
        relative = "../bob/runs/done/export/step-4/preset"
        for attack in (str(bob_files["preset"]), relative):
            _refused(page, *model, attack, "tiny:gemma3")
            _assert_nothing_leaked(page, secure_server.root)
    finally:
        page.close()
