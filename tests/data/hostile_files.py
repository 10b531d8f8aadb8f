"""Hostile data files for every reader, made by a seeded generator, and a runner that measures a child.

Big files are written as repeated patterns, so making one takes a fraction of a second.
Used by test_hostile_files.py.
"""

from __future__ import annotations

import bz2
import codecs
import gzip
import io
import json
import lzma
import os
import random
import re
import subprocess
import sys
import tempfile
import zipfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pytest

SEED = 12
MiB = 1024 * 1024
BIG = 40 * MiB  # over max_record_bytes (32 MiB) and max_cell_chars (16 MiB)
PYTHON = sys.executable
ROOT = Path(__file__).resolve().parents[2]
CHILD_ENV = {**os.environ, "ARROW_DEFAULT_MEMORY_POOL": "system", "MALLOC_ARENA_MAX": "2", "JAX_PLATFORMS": "cpu"}


@dataclass(frozen=True)
class Hostile:
    name: str  # file name; hf: cases are read as "hf:" + path
    write: Callable[[Path, random.Random], None]
    expect: str  # text the answer must contain: the cap's name, or the place
    cfg: dict = field(default_factory=dict)
    hf: bool = False


# Peak RSS is measured by a small launcher: Linux carries a process's peak RSS across fork and exec,
# so a child started by pytest itself would report at least pytest's own size.
_LAUNCH = """
import os, subprocess, sys, time
started = time.perf_counter()
child = subprocess.Popen(sys.argv[2:])
_, status, usage = os.wait4(child.pid, 0)
with open(sys.argv[1], "w") as f:
    f.write(f"{usage.ru_maxrss * 1024} {time.perf_counter() - started}")
sys.exit(os.waitstatus_to_exitcode(status))
"""


def run_measured(args: list[str], timeout: float = 120) -> tuple[int, str, str, float, int]:
    """(exit code, stdout, stderr, seconds, peak RSS in bytes) of one child process."""
    with tempfile.TemporaryDirectory() as folder:
        measured = Path(folder) / "measured"
        launch = [PYTHON, "-c", _LAUNCH, str(measured), *args]
        done = subprocess.run(launch, check=False, capture_output=True, env=CHILD_ENV, cwd=ROOT, timeout=timeout)
        rss, seconds = measured.read_text().split()
    return done.returncode, done.stdout.decode(), done.stderr.decode(), float(seconds), int(rss)


# ----- generators --------------------------------------------------------------------------------------------
def repeat(path: Path, head: bytes, unit: bytes, size: int, tail: bytes = b"") -> None:
    with path.open("wb") as f:
        f.write(head)
        block = unit * (MiB // len(unit))
        for _ in range(size // len(block)):
            f.write(block)
        f.write(tail)


def constant(content: bytes) -> Callable[[Path, random.Random], None]:
    return lambda path, rng: path.write_bytes(content)


def garbage(path: Path, rng: random.Random) -> None:
    path.write_bytes(bytes(rng.randrange(256) for _ in range(8192)))


def invalid_utf8(path: Path, rng: random.Random) -> None:
    bad = bytes(rng.choice([0xFF, 0xFE, 0xC0, 0x80]) for _ in range(20))
    path.write_bytes(b'{"prompt": "ok", "response": "ok"}\n{"prompt": "' + bad + b'", "response": "x"}\n')


def many_keys(count: int) -> bytes:
    return json.dumps({f"k{i}": i for i in range(count)}).encode()


def varying_keys(path: Path, rng: random.Random) -> None:
    rows = [{f"c{rng.randrange(10**9)}": "v" for _ in range(50)} for _ in range(200)]
    path.write_text("".join(json.dumps(row) + "\n" for row in rows))


def nested(depth: int) -> bytes:
    return b'{"prompt": ' + b"[" * depth + b'"x"' + b"]" * depth + b', "response": "a"}\n'


def multiline_record(path: Path, rng: random.Random) -> None:
    field_text = b"y" * (MiB - 1) + b"\n"
    with path.open("wb") as f:
        f.write(b"prompt,response,extra\n")
        for _ in range(3):  # three quoted values of 12 MiB each, none over max_cell_chars
            f.write(b'"' + field_text * 12 + b'",')
        f.write(b"z\n")


def many_column_header(path: Path, rng: random.Random) -> None:
    path.write_bytes(",".join(f"c{i}" for i in range(1_000_000)).encode() + b"\nq,a\n")


def xlsx(rows: list[list], edit: Callable[[str, bytes], bytes] = lambda name, data: data) -> Callable:
    """An .xlsx written by openpyxl, each zip member passed through `edit(name, data)`."""

    def write(path: Path, rng: random.Random) -> None:
        openpyxl = pytest.importorskip("openpyxl")
        book = openpyxl.Workbook()
        for row in rows:
            book.active.append(row)
        buffer = io.BytesIO()
        book.save(buffer)
        with zipfile.ZipFile(buffer) as source, zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as target:
            for info in source.infolist():
                target.writestr(info.filename, edit(info.filename, source.read(info.filename)))

    return write


def bomb_cell(name: str, data: bytes) -> bytes:
    return data.replace(b"PLACEHOLDER", b"x" * BIG)  # 40 MiB of one letter: deflate stores it in ~40 KiB


def bad_number(name: str, data: bytes) -> bytes:
    """A number cell holding text: openpyxl fails on it only while reading the rows."""
    return data.replace(b'<c r="A2" t="inlineStr"><is><t>q</t></is></c>', b'<c r="A2" t="n"><v>abc</v></c>')


def far_rows(name: str, data: bytes) -> bytes:
    """A sheet claiming A1:XFD1048576 with a row at the very bottom (rows are not padded to it)."""
    if name != "xl/worksheets/sheet1.xml":
        return data
    data = re.sub(rb'<dimension ref="[A-Z0-9:]+" ?/>', b'<dimension ref="A1:XFD1048576"/>', data)
    return (
        data.replace(b'<row r="2">', b'<row r="1048576">')
        .replace(b'r="A2"', b'r="A1048576"')
        .replace(b'r="B2"', b'r="B1048576"')
    )


def truncated(write: Callable[[Path, random.Random], None]) -> Callable[[Path, random.Random], None]:
    def cut(path: Path, rng: random.Random) -> None:
        write(path, rng)
        data = path.read_bytes()
        path.write_bytes(data[: len(data) // 2])

    return cut


def xls(rows: list[list]) -> Callable[[Path, random.Random], None]:
    def write(path: Path, rng: random.Random) -> None:
        xlwt = pytest.importorskip("xlwt")
        book = xlwt.Workbook()
        sheet = book.add_sheet("Sheet1")
        for r, row in enumerate(rows):
            for c, value in enumerate(row):
                sheet.write(r, c, value)
        book.save(str(path))

    return write


def sparse(size: int) -> Callable[[Path, random.Random], None]:
    def write(path: Path, rng: random.Random) -> None:
        with path.open("wb") as f:
            f.write(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1")  # the OLE2 signature of an .xls
            f.truncate(size)

    return write


def parquet(make_table: Callable[[], object]) -> Callable[[Path, random.Random], None]:
    def write(path: Path, rng: random.Random) -> None:
        pq = pytest.importorskip("pyarrow.parquet")
        pq.write_table(make_table(), path)

    return write


def dictionary_bomb():
    import numpy as np
    import pyarrow as pa

    value = "w" * (512 * 1024)  # one 512 KiB string, referenced by 200,000 rows: 100 GiB expanded
    prompt = pa.DictionaryArray.from_arrays(pa.array(np.zeros(200_000, dtype=np.int32)), pa.array([value]))
    return pa.table({"prompt": prompt, "response": pa.array(["a"] * 200_000)})


def wide_table():
    import pyarrow as pa

    return pa.table({f"c{i}": [1] for i in range(5000)})


def deep_table():
    import pyarrow as pa

    kind, value = pa.string(), "x"
    for _ in range(70):  # structs: lists this deep pass Parquet's own limit of 100 schema levels first
        kind, value = pa.struct([("a", kind)]), {"a": value}
    return pa.table({"prompt": pa.array([value], type=kind), "response": ["a"]})


def huge_cell_table():
    import pyarrow as pa

    return pa.table({"prompt": ["p" * (20 * MiB)], "response": ["a"]})


def compressed(opener: Callable, size: int = 24 * MiB) -> Callable[[Path, random.Random], None]:
    def write(path: Path, rng: random.Random) -> None:
        with opener(path, "wb") as f:
            block = b'{"prompt": "' + b"z" * (MiB - 30) + b'"}\n'
            for _ in range(size // len(block)):
                f.write(block)

    return write


def zip_bomb(path: Path, rng: random.Random) -> None:
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("data.jsonl", b"0" * (64 * MiB))


GOOD = b'{"prompt": "Hi?", "response": "Arr."}\n'
TEXT = {"format": "text"}
CASES = [
    # JSON Lines
    Hostile("huge_line.jsonl", lambda p, r: repeat(p, b'{"prompt": "', b"a", BIG, b'"}\n'), "max_record_bytes"),
    Hostile("open_brackets.jsonl", constant(GOOD + b'{"prompt": ' + b"[" * 200_000 + b"\n"), "max_json_depth"),
    Hostile("deep.jsonl", constant(GOOD + nested(200)), "max_json_depth"),
    Hostile("many_keys.jsonl", constant(many_keys(100_000) + b"\n"), "max_columns"),
    Hostile("varying_keys.jsonl", varying_keys, "max_columns"),
    Hostile("invalid_utf8.jsonl", invalid_utf8, "line 2"),
    Hostile("nul.jsonl", constant(GOOD + b'{"prompt": "a\x00b"}\n'), "binary data"),
    Hostile("truncated.jsonl", constant(GOOD + b'{"prompt": "a", "resp'), "line 2"),
    Hostile("gzip_named.jsonl", lambda p, r: p.write_bytes(gzip.compress(GOOD * 1000)), "line 1"),
    Hostile("long_number.jsonl", constant(b'{"prompt": ' + b"9" * 5000 + b', "response": "a"}\n'), "line 1, column 12"),
    # JSON: parsed whole (small) and streamed (over 8 MB)
    Hostile("long_number.json", constant(b'[{"prompt": ' + b"9" * 5000 + b', "response": "a"}]'), "digits"),
    Hostile(
        "long_number_streamed.json",
        lambda p, r: repeat(p, b'[{"prompt": ' + b"9" * 5000 + b', "response": "a"}', b" ", 9 * MiB, b"]"),
        "line 1",
    ),
    Hostile("deep_small.json", constant(b"[" * 200_000), "max_json_depth"),
    Hostile("deep_streamed.json", lambda p, r: repeat(p, b"", b"[", 9 * MiB), "max_json_depth"),
    Hostile("huge_string.json", lambda p, r: repeat(p, b'[{"prompt": "', b"s", BIG, b'"}]'), "max_cell_chars"),
    Hostile("many_columns.json", constant(json.dumps({f"k{i}": [1] for i in range(10_000)}).encode()), "max_columns"),
    Hostile(
        "many_columns_streamed.json",
        constant(json.dumps({f"key{i:07d}": [i] for i in range(700_000)}).encode()),
        "max_columns",
    ),
    # other encodings stream through the same caps (decoded and encoded as UTF-8 a piece at a time)
    Hostile(
        "latin1_huge_string.json",
        lambda p, r: repeat(p, b'[{"prompt": "caf\xe9 ', b"s", BIG, b'"}]'),
        "max_cell_chars",
        {"encoding": "latin-1"},
    ),
    Hostile(
        "utf16_huge_string.json",
        lambda p, r: repeat(
            p, '[{"prompt": "'.encode("utf-16"), "s".encode("utf-16-le"), BIG, '"}]'.encode("utf-16-le")
        ),
        "max_cell_chars",
        {"encoding": "utf-16"},
    ),
    Hostile(
        "utf16_deep_streamed.json",
        lambda p, r: repeat(p, codecs.BOM_UTF16_BE, "[".encode("utf-16-be"), 9 * MiB),
        "max_json_depth",
        {"encoding": "utf-16"},
    ),
    Hostile(
        "utf16_undecodable_streamed.json",
        lambda p, r: repeat(
            p, '[{"prompt": "a", "response": "b"}'.encode("utf-16"), b" \x00", 9 * MiB, b"\x00\xd8]\x00"
        ),
        "is not utf-16 text",
        {"encoding": "utf-16"},
    ),
    # CSV and TSV
    Hostile("huge_line.csv", lambda p, r: repeat(p, b"prompt,response\nq,", b"v", BIG, b"\n"), "max_record_bytes"),
    Hostile(
        "unclosed_quote.csv",
        lambda p, r: repeat(p, b'prompt,response\nq,"', b"u" * 1023 + b"\n", BIG),
        "max_cell_chars",
    ),
    Hostile("long_record.csv", multiline_record, "max_record_bytes"),
    Hostile("million_columns.csv", many_column_header, "max_columns"),
    Hostile("deep_messages.csv", constant(b'messages\n"' + b"[" * 100_000 + b'"\n'), "max_json_depth"),
    Hostile("invalid_utf8.csv", constant(b"prompt,response\nq,\xff\xfe\n"), "line 2"),
    Hostile("nul.csv", constant(b"prompt,response\nq,a\x00\n"), "binary data"),
    Hostile("truncated.csv", constant(b"prompt,response\nq,a\nq2"), "line 3"),
    Hostile("huge_line.tsv", lambda p, r: repeat(p, b"prompt\tresponse\nq\t", b"t", BIG, b"\n"), "max_record_bytes"),
    Hostile("million_columns.tsv", constant("\t".join(f"c{i}" for i in range(1_000_000)).encode()), "max_columns"),
    # plain text
    Hostile("huge_line.txt", lambda p, r: repeat(p, b"", b"l", BIG, b"\n"), "max_record_bytes", TEXT),
    Hostile(
        "huge_block.txt",
        lambda p, r: repeat(p, b"", b"b" * 1023 + b"\n", BIG),
        "max_record_bytes",
        {**TEXT, "text_mode": "blocks"},
    ),
    Hostile("nul.txt", constant(b"one\ntwo\x00\n"), "binary data", TEXT),
    Hostile("garbage.txt", garbage, "line", TEXT),
    # Excel
    Hostile("bomb_cell.xlsx", xlsx([["prompt", "response"], ["PLACEHOLDER", "a"]], bomb_cell), "max_compression_ratio"),
    Hostile("far_rows.xlsx", xlsx([["prompt", "response"], ["q", None]], far_rows), "row 1048576"),
    Hostile("bad_number.xlsx", xlsx([["prompt", "response"], ["q", "a"]], bad_number), "row 2"),
    Hostile("wide.xlsx", xlsx([[f"c{i}" for i in range(5000)], [1] * 5000]), "max_columns"),
    Hostile("truncated.xlsx", truncated(xlsx([["prompt", "response"], ["q", "a"]])), "cannot be read"),
    Hostile("csv_named.xlsx", constant(b"prompt,response\nq,a\n"), "cannot be read"),
    Hostile("too_big.xls", sparse(65 * MiB), "max_xls_bytes"),
    Hostile("truncated.xls", truncated(xls([["prompt", "response"], ["q", "a"]])), "cannot be read"),
    Hostile("garbage.xls", garbage, "cannot be read"),
    # Parquet
    Hostile("dictionary_bomb.parquet", parquet(dictionary_bomb), "max_compression_ratio"),
    Hostile("wide.parquet", parquet(wide_table), "max_columns"),
    Hostile("deep.parquet", parquet(deep_table), "max_json_depth"),
    Hostile("huge_cell.parquet", parquet(huge_cell_table), "max_cell_chars"),
    Hostile("truncated.parquet", truncated(parquet(huge_cell_table)), "cannot be read"),
    Hostile("jsonl_named.parquet", constant(GOOD), "cannot be read"),
    # compressed files (read through hf:) and compressed names
    Hostile("bomb.jsonl.gz", compressed(gzip.open), "max_compression_ratio", hf=True),
    Hostile("bomb.jsonl.bz2", compressed(bz2.open), "max_compression_ratio", hf=True),
    Hostile("bomb.jsonl.xz", compressed(lzma.open), "max_compression_ratio", hf=True),
    Hostile("bomb.zip", zip_bomb, "max_compression_ratio", hf=True),
    Hostile(
        "truncated.jsonl.gz", truncated(lambda p, r: p.write_bytes(gzip.compress(GOOD * 5000))), "decompress", hf=True
    ),
    Hostile("data.jsonl.gz", lambda p, r: p.write_bytes(gzip.compress(GOOD)), "Cannot tell the format"),
]


# ----- seeded mutations of good files --------------------------------------------------------------------------------
ROWS = [["prompt", "response"]] + [[f"q{i} ünï", f"a{i} [1,2] {{x}}"] for i in range(20)]
_INSERTS = [b"[", b"{", b'"', b"\n", b",", b"\x00", b"\xff", b"9" * 10, b"\\u", b"\r"]


def good_file(path: Path) -> None:
    """A small good file in the format its name says, for mutate() to break."""
    suffix, body = path.suffix, ROWS[1:]
    if suffix == ".jsonl":
        path.write_text("".join(json.dumps({"prompt": p, "response": r}) + "\n" for p, r in body))
    elif suffix == ".json":
        path.write_text(json.dumps([{"prompt": p, "response": r} for p, r in body], indent=1))
    elif suffix in (".csv", ".tsv"):
        separator = "," if suffix == ".csv" else "\t"
        path.write_text("".join(f'"{p}"{separator}"{r}"\n' for p, r in ROWS))
    elif suffix == ".txt":
        path.write_text("".join(f"{p}\n{r}\n\n" for p, r in body))
    elif suffix == ".xlsx":
        xlsx(ROWS)(path, random.Random(SEED))
    elif suffix == ".xls":
        xls(ROWS)(path, random.Random(SEED))
    else:
        pa = pytest.importorskip("pyarrow")
        parquet(lambda: pa.table({"prompt": [p for p, _ in body], "response": [r for _, r in body]}))(path, None)


def mutate(data: bytes, rng: random.Random) -> bytes:
    """`data` with a few random edits: bytes changed, syntax inserted, pieces cut, copied or the end lost."""
    data = bytearray(data)
    for _ in range(rng.randint(1, 8)):
        at = rng.randrange(len(data)) if data else 0
        edit = rng.randrange(5)
        if edit == 0 and data:
            data[at] = rng.randrange(256)
        elif edit == 1:
            data[at:at] = rng.choice(_INSERTS)
        elif edit == 2:
            del data[at : at + rng.randint(1, 50)]
        elif edit == 3:
            del data[at:]
        else:
            start = rng.randrange(len(data) or 1)
            data[at:at] = data[start : start + rng.randint(1, 200)]
    return bytes(data)
