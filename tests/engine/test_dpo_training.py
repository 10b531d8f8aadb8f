"""DPO training: it learns the preference (held-out margin rises), and runs, logs and resumes like SFT."""

import json

import jax
from dpo_helpers import HELD_OUT_TOPICS, TRAIN_TOPICS, make_pairs, pair_texts, write_pairs_jsonl
from engine_helpers import fast_config
from training_helpers import assert_resumed_run_matches, straight_and_resumed_runs

from gemma_jax.config import JobConfig, apply_overrides, validate
from gemma_jax.data.preference_batches import PreferenceBatchIterator, tokenize_pairs
from gemma_jax.models.loading import load_model
from gemma_jax.runs.run_store import RunStore
from gemma_jax.train.dpo_step import evaluate_pairs
from gemma_jax.train.setup import build_training
from gemma_jax.train.trainer import train_run

DPO_METRICS = ("chosen_reward", "rejected_reward", "reward_margin", "reward_accuracy", "pairs")


def test_dpo_raises_the_chosen_over_rejected_margin_on_held_out_pairs(tmp_path):
    train_pairs = make_pairs(TRAIN_TOPICS, seed=0)  # 40 pairs
    held_out = make_pairs(HELD_OUT_TOPICS, seed=1)  # 12 pairs on topics never trained on
    model = load_model("tiny:gemma3", vocab_texts=pair_texts(train_pairs + held_out))
    steps = 30
    cfg = fast_config(
        tmp_path,
        "method.kind=dpo",
        "method.dpo_beta=0.1",
        "method.lora_targets=[query,value,ffw_linear]",
        "optimizer.learning_rate=5e-3",
        "schedule.name=constant",
    )
    setup = build_training(cfg, model, total_steps=steps, devices=jax.devices()[:1])
    common = {"sequence_length": 128, "batch_size": 8, "seed": 0}
    train = PreferenceBatchIterator(tokenize_pairs(train_pairs, model.tokenizer, 128), num_epochs=8, **common)
    evaluation = PreferenceBatchIterator(
        tokenize_pairs(held_out, model.tokenizer, 128), shuffle=False, repeat=False, **common
    )

    def held_out_metrics(state):
        return evaluate_pairs(setup.steps, state.trainable, state.frozen, evaluation.fresh(), setup.device_batch, 100)

    state = setup.initial_state()
    before = held_out_metrics(state)
    for _ in range(steps):
        batch = setup.device_batch(next(train))
        state.trainable, state.opt_state, metrics = setup.steps.train(
            state.trainable, state.frozen, state.opt_state, batch
        )
    after = held_out_metrics(state)
    log_margin = {
        name: m["eval_chosen_logp"] - m["eval_rejected_logp"] for name, m in (("before", before), ("after", after))
    }
    print(f"held-out ({after['eval_pairs']} pairs) before: {before}\nafter: {after}\nlog-prob margin: {log_margin}")
    assert after["eval_pairs"] == len(held_out)
    assert before["eval_reward_margin"] == 0.0  # LoRA B starts at zero: the policy is the reference
    assert after["eval_reward_margin"] > 0.5 and after["eval_reward_accuracy"] == 1.0
    assert after["eval_loss"] < before["eval_loss"] - 0.2
    # The policy itself now prefers the chosen reply by more than the base model did.
    assert log_margin["after"] > log_margin["before"] + 5.0
    assert float(metrics["reward_accuracy"]) > 0.9


def test_dpo_run_logs_reward_margins_and_resumes_exactly(tmp_path):
    data = tmp_path / "pairs.jsonl"
    write_pairs_jsonl(data, make_pairs(TRAIN_TOPICS, seed=0))
    overrides = (
        "method.kind=dpo",
        f"data.train_path={data}",
        "data.validation_fraction=0.2",
        "train.max_steps=6",
        "eval.every_steps=3",
        "eval.max_batches=2",
        "checkpoint.every_steps=100",
        "optimizer.learning_rate=1e-2",
    )
    reference, store, _ = straight_and_resumed_runs(tmp_path, overrides, stop_step=3)

    expected, resumed = assert_resumed_run_matches(reference, store, steps=6)
    for record in expected.values():
        for key in DPO_METRICS:
            assert key in record, key
        assert record["pairs"] > 0 and 0.0 <= record["reward_accuracy"] <= 1.0
        assert abs(record["reward_margin"] - (record["chosen_reward"] - record["rejected_reward"])) < 1e-5
    evals = [m for m in expected.values() if "eval_loss" in m]
    assert [m["step"] for m in evals] == [3, 6]
    for record in evals:
        assert "eval_reward_margin" in record and "eval_reward_accuracy" in record and record["eval_pairs"] == 8
        assert "eval_perplexity" not in record
    assert abs(resumed[6]["eval_reward_margin"] - expected[6]["eval_reward_margin"]) < 1e-5
    assert expected[6]["eval_reward_margin"] > 0  # learning: held-out margin starts at exactly 0
    status = store.read_status()
    assert status["state"] == "completed" and status["data"]["pairs"] == 40


def test_dpo_config_and_data_errors_are_plain_words(tmp_path):
    problems = validate(apply_overrides(JobConfig(), ["method.kind=dpo", "method.dpo_beta=0"]))
    assert any("method.dpo_beta" in p for p in problems), problems
    assert not validate(apply_overrides(JobConfig(), ["method.kind=dpo"]))

    data = tmp_path / "sft.jsonl"
    data.write_text(json.dumps({"prompt": "hi", "response": "hello"}) + "\n")
    store = RunStore.create(fast_config(tmp_path, "method.kind=dpo", f"data.train_path={data}"))
    assert train_run(str(store.path), progress=False) == "failed"
    error = store.read_status()["error"]
    assert "chosen" in error and "rejected" in error and "Traceback" not in error
