"""Freed step buffers stay mapped on a CPU host, so the next step does not fault them in again.

Each case runs in a fresh interpreter: the malloc settings are process-wide and one-way.
"""

import json
import os
import subprocess
import sys

import pytest

from gemma_jax.monitor.hardware import detect_hardware

pytestmark = pytest.mark.skipif(
    not sys.platform.startswith("linux") or detect_hardware().kind != "cpu", reason="glibc CPU hosts only"
)

# Allocate, touch and free a block the size of a small step buffer (as XLA:CPU does each step),
# twice, and count the page faults of the second round.
PROBE = """
import ctypes, json, resource, sys
from gemma_jax import JobConfig
from gemma_jax.config import apply_overrides
from gemma_jax.train.host_memory import release_retained_host_memory, retain_freed_host_memory

cfg = apply_overrides(JobConfig(), sys.argv[1:]) if sys.argv[1:] else None
applied = retain_freed_host_memory(cfg)
libc = ctypes.CDLL(None)
libc.malloc.restype = ctypes.c_void_p
size = 256 * 2**20

def faults_of_one_step():
    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    block = libc.malloc(ctypes.c_size_t(size))
    ctypes.memset(block, 1, size)
    libc.free(ctypes.c_void_p(block))
    return resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before

faults_of_one_step()
faults = faults_of_one_step()
release_retained_host_memory()
faults_of_one_step()
print(json.dumps({"applied": applied, "faults": faults, "faults_after_release": faults_of_one_step()}))
"""


def probe(*overrides: str, disable: bool = False) -> dict:
    env = {**os.environ, "GEMMA_JAX_RETAIN_HOST_MEMORY": "0" if disable else "1"}
    done = subprocess.run(
        [sys.executable, "-c", PROBE, *overrides], check=False, env=env, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr[-2000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_a_freed_step_buffer_is_reused_without_page_faults():
    retained = probe()
    assert retained["applied"] is True
    assert retained["faults"] < 100  # 65,536 pages of 4 KiB, none faulted again
    assert retained["faults_after_release"] > 30_000  # glibc's defaults are back

    released = probe(disable=True)
    assert released["applied"] is False
    assert released["faults"] > 30_000  # munmap'd at free, so every page faults in again


def test_applied_only_where_a_second_step_buffer_fits():
    assert probe("model.source=tiny:gemma3")["applied"] is True
    # Gemma 3 27B in full fine-tuning needs far more than any CI host has: leave malloc alone.
    too_big = probe("model.source=gemma3_instruct_27b", "method.kind=full")
    assert too_big["applied"] is False and too_big["faults"] > 30_000
    # A model whose shape is unknown before loading gives no basis to judge.
    assert probe("model.source=/nonexistent/model.gguf")["applied"] is False
