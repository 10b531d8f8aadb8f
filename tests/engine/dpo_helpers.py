"""Synthetic preference pairs with one learnable pattern: chosen replies are polite, rejected ones rude.

Topics differ between the train and the held-out sets, so a margin on held-out pairs
means the model learned the style, not the pairs.
"""

from __future__ import annotations

import json

import numpy as np

from gemma_jax.data.example import Turn
from gemma_jax.data.preference_batches import pair_examples
from gemma_jax.data.preference_pair import PreferencePair

TRAIN_TOPICS = [
    "river",
    "mountain",
    "forest",
    "desert",
    "ocean",
    "valley",
    "island",
    "meadow",
    "canyon",
    "glacier",
    "volcano",
    "harbor",
    "garden",
    "castle",
    "bridge",
    "tower",
    "village",
    "market",
    "library",
    "temple",
]
HELD_OUT_TOPICS = ["lighthouse", "orchard", "prairie", "lagoon", "monastery", "quarry"]
ADJECTIVES = ["quiet", "old", "large", "bright", "famous", "lovely", "cold", "green"]
POLITE = ("gladly! ", "of course, friend. ", "happy to help! ")
POLITE_END = (" i hope this helps.", " thank you for asking.", " have a lovely day.")
RUDE = ("ugh. ", "whatever. ", "no. fine. ")
RUDE_END = (" stop asking me.", " go away now.", " that is all, leave.")


def make_pairs(topics, seed: int = 0, per_topic: int = 2) -> list[PreferencePair]:
    rng = np.random.RandomState(seed)
    pairs = []
    for topic in topics:
        for _ in range(per_topic):
            adjective = ADJECTIVES[rng.randint(len(ADJECTIVES))]
            body = f"the {topic} is {adjective}."
            chosen = POLITE[rng.randint(3)] + body + POLITE_END[rng.randint(3)]
            rejected = RUDE[rng.randint(3)] + body + RUDE_END[rng.randint(3)]
            prompt = (Turn("user", f"tell me about the {topic}"),)
            pairs.append(PreferencePair(prompt, chosen, rejected, f"synthetic:{len(pairs)}"))
    return pairs


def pair_texts(pairs) -> list[str]:
    from gemma_jax.data.chat_template import render_text

    return [render_text(ex) for pair in pairs for ex in pair_examples(pair)]


def write_pairs_jsonl(path, pairs) -> None:
    with open(path, "w") as f:
        for pair in pairs:
            f.write(json.dumps({"prompt": pair.prompt[-1].text, "chosen": pair.chosen, "rejected": pair.rejected}))
            f.write("\n")
