from __future__ import annotations

from collections import Counter
from dataclasses import replace

import numpy as np
import pytest

from gemma_jax.config.job_config import AugmentConfig, DataConfig
from gemma_jax.data.augment import (
    ModelRewriter,
    augment_examples,
    random_deletion,
    random_insertion,
    random_swap,
    synonym_replacement,
)
from gemma_jax.data.chat_template import prompt_text
from gemma_jax.data.errors import DataError
from gemma_jax.data.example import Example, Turn
from gemma_jax.data.pipeline import build_datasets, data_texts
from gemma_jax.data.synonyms import SynonymTable, default_synonyms

TABLE = SynonymTable({"quick": ["fast", "speedy"], "brown": ["chocolate"], "fox": ["trickster"], "lazy": ["idle"]})
TEXT = "The quick brown fox jumps over the lazy dog.\nIt was Quick!"


def rng(seed: int = 0) -> np.random.Generator:
    return np.random.default_rng(seed)


def test_synonym_replacement_uses_the_table_keeps_case_and_is_seeded():
    out = synonym_replacement(TEXT, 0.3, rng(1), TABLE)
    assert out == synonym_replacement(TEXT, 0.3, rng(1), TABLE)
    assert out != TEXT and out.count("\n") == 1 and out.endswith("!")
    changed = [(a, b) for a, b in zip(TEXT.split(), out.split()) if a != b]
    assert len(changed) == round(0.3 * 12)  # 12 words
    for old, new in changed:
        core = old.strip(".!").lower()
        assert new.strip(".!").lower() in TABLE(core) and new[0].isupper() == old[0].isupper()
    assert synonym_replacement("nothing here matches", 0.5, rng(), TABLE) == "nothing here matches"


def test_packaged_wordnet_table():
    table = default_synonyms()
    assert len(table) > 40_000
    assert "fast" in table("quick") and "large" in table("big") and table("the") == []


def test_random_insertion_adds_synonyms():
    out = random_insertion(TEXT, 0.2, rng(2), TABLE)
    added = Counter(out.split()) - Counter(TEXT.split())
    assert sum(added.values()) == 2 and all(
        word in {"fast", "speedy", "chocolate", "trickster", "idle"} for word in added
    )


def test_random_deletion_rate_and_at_least_one_word():
    words = " ".join(f"w{i}" for i in range(200))
    out = random_deletion(words, 0.3, rng(3)).split()
    assert 100 < len(out) < 180 and out == [w for w in words.split() if w in set(out)]  # order kept
    assert random_deletion("one two", 1.0, rng()) in ("one", "two")
    assert random_deletion("single", 0.9, rng()) == "single"


def test_random_swap_keeps_the_words():
    out = random_swap(TEXT, 0.2, rng(4))
    strip = lambda text: sorted(w.strip(".!") for w in text.split())
    assert out != TEXT and strip(out) == strip(TEXT) and out.count("\n") == 1
    assert out.endswith("!") and "." in out  # punctuation stays where it was
    assert random_swap("alone", 0.5, rng()) == "alone"
    spaced = random_swap("  one two\tthree\nfour  ", 0.5, rng(1))
    assert spaced.startswith("  ") and spaced.endswith("  ") and "\t" in spaced and "\n" in spaced


def _examples(n: int = 6) -> list[Example]:
    return [
        Example(
            (
                Turn("system", "Be a pirate."),
                Turn("user", f"The quick brown fox number {i} jumps over the lazy dog"),
                Turn("model", "Arr, a quick fox!"),
            ),
            source=f"f.jsonl:{i + 1}",
        )
        for i in range(n)
    ]


def test_augment_examples_marks_copies_and_changes_only_user_turns():
    examples = _examples()
    cfg = AugmentConfig(methods=("synonym", "swap", "delete"), copies=2, synonym_rate=0.3)
    copies, report = augment_examples(examples, cfg, seed=5, synonyms=TABLE)
    assert report.created["synonym"] == report.created["swap"] == 12 and report.total == len(copies)
    assert report.created["delete"] + report.skipped["delete"] == 12  # a copy that deleted nothing is skipped
    assert Counter(c.augmentation for c in copies)["swap:1"] == 6
    for copy in copies:
        original = examples[int(copy.source.split(":")[1]) - 1]
        assert copy.turns[0] == original.turns[0] and copy.turns[2] == original.turns[2]
        assert copy.turns[1].text != original.turns[1].text
    again, _ = augment_examples(examples, cfg, seed=5, synonyms=TABLE)
    assert again == copies
    assert augment_examples(examples, cfg, seed=6, synonyms=TABLE)[0] != copies
    model_too, _ = augment_examples(examples, replace(cfg, turns="all", methods=("swap",)), seed=5)
    assert all(c.turns[2].text != examples[0].turns[2].text for c in model_too)


def test_augment_refuses_bad_input():
    examples = _examples(2)
    with pytest.raises(DataError, match="no model was given"):
        augment_examples(examples, AugmentConfig(methods=("paraphrase",)))
    with pytest.raises(DataError, match="Unknown data.augment.methods"):
        augment_examples(examples, AugmentConfig(methods=("shout",)))
    with pytest.raises(DataError, match="cannot be augmented again"):
        augment_examples([replace(examples[0], augmentation="swap:0")], AugmentConfig(methods=("swap",)))


def test_pipeline_augments_train_only(tokenizer, write):
    rows = [
        {"prompt": f"Tell me about the quick brown ship number {i} today", "response": f"Arr {i}"} for i in range(30)
    ]
    cfg = DataConfig(
        train_path=write("ships.jsonl", rows),
        validation_fraction=0.2,
        test_fraction=0.1,
        sequence_length=64,
        augment=AugmentConfig(methods=("synonym", "swap")),
    )
    ds = build_datasets(cfg, tokenizer, batch_size=2)
    real_train = [ex for ex in ds.train_examples if not ex.augmentation]
    copies = [ex for ex in ds.train_examples if ex.augmentation]
    assert len(real_train) == 21 and len(copies) == ds.stats["augmented_examples"] == 42
    held_out = {ex.source for ex in ds.validation_examples + ds.test_examples}
    assert not any(ex.augmentation for ex in ds.validation_examples + ds.test_examples)
    assert {ex.source for ex in copies} == {ex.source for ex in real_train} and not held_out & {
        c.source for c in copies
    }
    assert ds.stats["split"]["splits"]["train"]["augmented"] == 42
    assert ds.stats["examples"] == 30 and ds.stats["augmentation"]["created"] == {"synonym": 21, "swap": 21}
    assert len(data_texts(cfg)) == 30  # the vocabulary texts never include augmented copies


@pytest.fixture(scope="module")
def tiny_model():
    from gemma_jax.models.loading import load_model

    return load_model("tiny:gemma3", vocab_texts=data_texts(DataConfig()))


def test_model_paraphrase_and_back_translation_use_the_loaded_model(tiny_model):
    # texts this random tiny model answers with something (for others it stops at once: skipped)
    texts = ["hello", "Arr matey", "The quick brown fox"]
    examples = [Example.from_prompt_response(t, "Arr!", source=f"f:{i + 1}") for i, t in enumerate(texts)]
    cfg = AugmentConfig(methods=("paraphrase", "back_translation"), max_new_tokens=6, temperature=0.0)
    copies, report = augment_examples(examples, cfg, seed=0, model=tiny_model)
    for method in cfg.methods:
        assert report.created[method] + report.skipped[method] == 3
    assert report.created["paraphrase"] == 3 and report.total == len(copies)
    rewriter = ModelRewriter(tiny_model, max_new_tokens=6, temperature=0.0)
    expected = rewriter.paraphrase(texts)  # greedy: exactly the model's own replies
    for copy in copies:
        assert copy.augmentation.split(":")[0] in cfg.methods and copy.turns[1] == examples[0].turns[1]
        if copy.augmentation.startswith("paraphrase"):
            assert copy.turns[0].text == expected[int(copy.source.split(":")[1]) - 1]


def test_back_translation_goes_there_and_back(tiny_model, monkeypatch):
    from gemma_jax.models.generation import Generator

    seen = []

    def fake_generate(self, prompts, max_new_tokens=32, temperature=0.0, top_k=50, seed=None):
        seen.extend(prompts)
        replies = []
        for prompt in prompts:
            text = prompt.split("\n\n", 1)[1].split("<end_of_turn>")[0]
            language = prompt.split("into ")[1].split(".")[0] if "Translate" in prompt else "same"
            replies.append(f"[{language}] {text}")
        return replies

    monkeypatch.setattr(Generator, "generate", fake_generate)
    rewriter = ModelRewriter(tiny_model, max_new_tokens=8)
    assert rewriter.back_translate(["Hello sailor"], "French", "English") == ["[English] [French] Hello sailor"]
    assert seen[0] == prompt_text(
        "Translate the following text into French. Reply with the translation only.\n\nHello sailor"
    )
    assert rewriter.paraphrase(["word " * 2000, "short"]) == [None, "[same] short"]  # too long: skipped


def test_config_rules_and_overrides():
    from gemma_jax.config import JobConfig, apply_overrides, config_from_dict, config_to_dict
    from gemma_jax.config.validate import validate

    cfg = apply_overrides(
        JobConfig(),
        [
            "data.augment.methods=[synonym, swap]",
            "data.augment.copies=2",
            "data.split_by=label",
            "data.test_fraction=0.1",
        ],
    )
    assert cfg.data.augment.methods == ("synonym", "swap") and cfg.data.augment.copies == 2
    assert config_from_dict(config_to_dict(cfg)) == cfg and validate(cfg) == []
    bad = apply_overrides(
        JobConfig(),
        [
            "data.augment.methods=[synonim, swap, swap]",
            "data.augment.swap_rate=1.5",
            "data.augment.copies=0",
            "data.truncation=middle",
            "data.unicode_form=NFD",
            "data.validation_fraction=0.5",
            "data.test_fraction=0.5",
        ],
    )
    problems = "\n".join(validate(bad))
    for expected in (
        "unknown method 'synonim'; did you mean 'synonym'",
        "lists 'swap' more than once",
        "data.augment.swap_rate must be between 0 and 1",
        "data.augment.copies must be at least 1",
        "data.truncation must be one of right | left | keep_response",
        "data.unicode_form must be one of NFC | NFKC",
        "leave nothing to train on",
    ):
        assert expected in problems
