"""Preference pairs (prompt, chosen, rejected) for DPO: one shape, read from any supported file.

A leaf next to example.py (records, reports and cleaning use it); reading pairs from a file is
readers.read_preference_pairs, so this module never imports the readers.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from gemma_jax.data.example import Example, Turn


@dataclass(frozen=True)
class PreferencePair:
    """A prompt (as chat turns) with a preferred and a dispreferred reply; `source` is "file:row".

    `turns` (the prompt, then the chosen and the rejected reply as model turns) and `with_turns`
    let cleaning and augmentation treat a pair like an Example; `augmentation` marks copies
    that augment.py made, as for examples.
    """

    prompt: tuple[Turn, ...]
    chosen: str
    rejected: str
    source: str = ""
    augmentation: str = ""
    columns: tuple[tuple[str, str], ...] = ()  # (data.split_by column, its value), as for Example

    @property
    def turns(self) -> tuple[Turn, ...]:
        return (*self.prompt, Turn("model", self.chosen), Turn("model", self.rejected))

    def with_turns(self, turns: tuple[Turn, ...], **changes) -> PreferencePair:
        """The pair whose `turns` are `turns` (the last two are the chosen and the rejected reply)."""
        *prompt, chosen, rejected = turns
        return replace(self, prompt=tuple(prompt), chosen=chosen.text, rejected=rejected.text, **changes)


def pair_examples(pair: PreferencePair) -> tuple[Example, Example]:
    """The two conversations a pair compares: its prompt turns, then the chosen or rejected reply
    (the first is also what SFT on preference data learns); source, marks and kept columns carry over."""
    return tuple(
        Example(
            (*pair.prompt, Turn("model", reply)),
            pair.source,
            kind="preference",
            augmentation=pair.augmentation,
            columns=pair.columns,
        )
        for reply in (pair.chosen, pair.rejected)
    )
