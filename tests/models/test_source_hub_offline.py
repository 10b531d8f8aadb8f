"""Hub sources without a network: fail within seconds, saying what to do; use complete cached copies.

The sandbox these tests were written in has no network, so the offline tests are real;
where the hub host resolves they are skipped, and the stalled-server test (a local
socket that never answers) runs everywhere.
"""

import json
import os
import re
import socket
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest
from model_fixtures import TEXTS, free_port, isolated_hub_caches, keras_logits, save_tiny_preset, token_ids

from gemma_jax.models.loading import ModelLoadError, describe_source, load_model

FAST_S = 20.0  # "well under" this: offline failures take about a second here
KAGGLE_ADVICE = r"KAGGLE_USERNAME and KAGGLE_KEY.*accept the Gemma license.*local directory"
HF_ADVICE = r"huggingface-cli login.*HF_TOKEN.*local directory"


def resolves(host: str) -> bool:
    try:
        socket.getaddrinfo(host, 443)
    except OSError:
        return False
    return True


needs_offline_kaggle = pytest.mark.skipif(resolves("api.kaggle.com"), reason="network available; offline test")
needs_offline_hf = pytest.mark.skipif(resolves("huggingface.co"), reason="network available; offline test")


def timed_failure(source: str) -> tuple[str, float]:
    start = time.monotonic()
    with pytest.raises(ModelLoadError) as caught:
        load_model(source)
    return str(caught.value), time.monotonic() - start


def test_source_kinds():
    assert describe_source("gemma3_instruct_1b") == "hub"
    assert describe_source("gemma2_2b_en") == "hub"
    assert describe_source("gemma3_270m") == "embedded"  # ours wins over Keras-Hub's preset of that name
    assert describe_source("kaggle://keras/gemma3/keras/gemma3_1b/3") == "kaggle"
    assert describe_source("hf://google/gemma-3-1b-it") == "hf"
    assert describe_source("gs://bucket/model") == "gcs"
    assert describe_source("model.GGUF") == "gguf"
    assert describe_source("tiny:gemma3") == "tiny" and describe_source("random:gemma3_270m") == "random"
    assert describe_source("no-such-model") == "unknown"


@needs_offline_kaggle
@pytest.mark.parametrize(
    "source",
    ["gemma3_instruct_1b", "kaggle://keras/gemma3/keras/gemma3_1b/3", "kaggle://keras/gemma2/keras/gemma2_2b_en"],
)
def test_offline_kaggle_fails_fast_with_advice(monkeypatch, tmp_path, source):
    isolated_hub_caches(monkeypatch, tmp_path)
    message, seconds = timed_failure(source)
    assert seconds < FAST_S, f"took {seconds:.1f} s"
    assert "Kaggle" in message and "cannot be reached" in message
    assert re.search(KAGGLE_ADVICE, message), message


def test_bad_handles_and_non_gemma_presets(monkeypatch, tmp_path):
    isolated_hub_caches(monkeypatch, tmp_path)
    with pytest.raises(ModelLoadError, match="kaggle://owner/model/framework/variation"):
        load_model("kaggle://keras/gemma3")
    with pytest.raises(ModelLoadError, match="hf://org/model"):
        load_model("hf://gemma-3-1b-it")
    with pytest.raises(ModelLoadError, match="'bert_base_en' is not a Gemma"):
        load_model("bert_base_en")
    with pytest.raises(ModelLoadError, match="Keras-Hub Gemma preset name"):
        load_model("gemma3_instruct_1b_typo")
    with pytest.raises(ModelLoadError, match="model directory './no/such/model' does not exist"):
        load_model("./no/such/model")


def test_cached_kaggle_copy_loads_without_network(monkeypatch, tmp_path):
    """A complete copy in kagglehub's cache (put there through kagglehub's own Cache) needs no network."""
    from kagglehub.cache import Cache
    from kagglehub.handle import parse_model_handle

    isolated_hub_caches(monkeypatch, tmp_path)
    model = load_model("tiny:gemma", vocab_texts=TEXTS)
    handle = parse_model_handle("someone/tiny-gemma/keras/tiny/2")
    save_tiny_preset(Path(Cache().get_path(handle)), model)
    Cache().mark_as_complete(handle)

    start = time.monotonic()
    loaded = load_model("kaggle://someone/tiny-gemma/keras/tiny/2")
    assert time.monotonic() - start < FAST_S
    ids = token_ids(model.tokenizer.proto)
    np.testing.assert_array_equal(keras_logits(loaded, ids), keras_logits(model, ids))


HF_SCRIPT = textwrap.dedent(
    """
    import json, sys, time
    from gemma_jax.models.loading import ModelLoadError, load_model
    start = time.monotonic()
    try:
        load_model(sys.argv[1])
        result = {"error": None}
    except ModelLoadError as error:
        result = {"error": str(error)}
    result["seconds"] = time.monotonic() - start
    print("RESULT " + json.dumps(result))
    """
)


def run_hf_load(tmp_path, source: str, **env) -> dict:
    """load_model(source) in a fresh interpreter: huggingface_hub reads HF_* settings once, at import."""
    environment = {**os.environ, "HF_HOME": str(tmp_path / "hf"), "GEMMA_JAX_CACHE": str(tmp_path / "gj"), **env}
    environment.pop("HF_HUB_CACHE", None)
    done = subprocess.run(
        [sys.executable, "-c", HF_SCRIPT, source],
        check=False,
        env=environment,
        capture_output=True,
        text=True,
        timeout=300,
    )
    lines = [line for line in done.stdout.splitlines() if line.startswith("RESULT ")]
    assert lines, done.stdout + done.stderr
    return json.loads(lines[-1].removeprefix("RESULT "))


@needs_offline_hf
def test_offline_hf_fails_fast_with_advice(tmp_path):
    result = run_hf_load(tmp_path, "hf://google/gemma-3-1b-it")
    assert result["seconds"] < FAST_S, result
    assert "Hugging Face Hub" in result["error"] and "cannot be reached" in result["error"]
    assert re.search(HF_ADVICE, result["error"]), result["error"]


def test_stalled_hub_fails_within_the_timeout(tmp_path):
    """A server that accepts connections and never answers (a proxy or firewall that swallows requests)."""
    with socket.socket() as server:
        port = free_port()
        server.bind(("127.0.0.1", port))
        server.listen(16)
        result = run_hf_load(
            tmp_path, "hf://google/gemma-3-1b-it", HF_ENDPOINT=f"http://127.0.0.1:{port}", GEMMA_JAX_HUB_TIMEOUT="2"
        )
    assert result["seconds"] < FAST_S, result
    assert "no answer within 2 s" in result["error"], result["error"]


def test_hf_offline_mode_says_so(tmp_path):
    result = run_hf_load(tmp_path, "hf://google/gemma-3-1b-it", HF_HUB_OFFLINE="1")
    assert result["seconds"] < FAST_S, result
    assert "HF_HUB_OFFLINE is set" in result["error"]
