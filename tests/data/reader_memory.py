"""How much memory reading a data file takes: examples, problems and peak RSS growth, in a fresh process."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

_SCRIPT = (
    "import resource, sys\n"
    "from gemma_jax.config.job_config import DataConfig\n"
    "from gemma_jax.data.readers import iter_examples\n"
    "base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss\n"
    "problems = []\n"
    "n = sum(1 for _ in iter_examples(sys.argv[1], DataConfig(encoding=sys.argv[2]), problems))\n"
    "grown = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - base\n"
    "print(n, len(problems), grown * 1024)\n"
)


def read_in_fresh_process(path: Path, encoding: str = "utf-8") -> tuple[int, int, int]:
    """(examples read, problems, bytes the peak RSS grew by while reading `path`), measured in a new process
    so that nothing the test process holds counts."""
    out = subprocess.run(
        [sys.executable, "-c", _SCRIPT, str(path), encoding], capture_output=True, text=True, check=True
    )
    n, problems, grown = map(int, out.stdout.split())
    return n, problems, grown
