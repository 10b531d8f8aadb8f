"""The serve commands an export suggests: gemma-jax on this machine only, container runtimes inside their container."""

import json
import shlex

import pytest

from gemma_jax.export.serving import serving_spec


@pytest.mark.parametrize("kind, target", [("keras", ["preset"]), ("adapter", ["../..", "--step", "20"])])
def test_gemma_jax_serve_is_suggested_on_this_machine_only(kind, target):
    # An adapter alone is no model (serve refuses it): the run it was exported from serves that checkpoint.
    spec = serving_spec(kind, {"step": 20, "run": "my-run"}, "my-run-step-20")
    # serve's own default host (127.0.0.1): the curl beside it asks localhost; the network needs --host and --api-key
    assert shlex.split(spec["command"]) == ["gemma-jax", "serve", *target, "--port", "8000"]
    assert "http://localhost:8000/v1/chat/completions" in spec["curl"]
    assert json.loads(shlex.split(spec["curl"])[-1])["model"] == {"keras": "preset", "adapter": "my-run"}[kind]


def test_a_container_listens_on_all_of_its_interfaces_and_publishes_one_port():
    spec = serving_spec("gguf-q8_0", {"gguf": "model-q8_0.gguf"}, "my-run")
    command = shlex.split(spec["command"])
    assert command[:2] == ["docker", "run"] and "8080:8080" in command
    assert command[command.index("--host") + 1] == "0.0.0.0"  # inside the container, reached through -p
    assert spec["vertex"]["containerSpec"]["ports"] == [{"containerPort": 8080}]


@pytest.mark.parametrize("rank, flag", [(4, "8"), (16, "16"), (64, "64"), (100, "128"), (300, "320")])
def test_vllm_sizes_its_lora_slots_for_the_adapters_largest_rank(rank, flag):
    # vLLM's default --max-lora-rank is 16: an adapter with r 16 and rank_pattern {"q_proj": 64} needs 64.
    spec = serving_spec("peft", {"peft_base": "google/gemma-3-270m", "max_lora_rank": rank}, "my-run")
    command = shlex.split(spec["command"])
    assert command[command.index("--lora-modules") + 1] == "adapter=/model"
    assert command[command.index("--max-lora-rank") + 1] == flag
