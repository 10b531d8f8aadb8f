"""Multi-host runs: one process per host of a TPU slice or GPU cluster, or several on one machine.

Every process runs the same job; process 0 (the primary) alone writes the run directory's files.
The helpers here start the processes together and share what only the primary has: a barrier,
the primary's bytes (a tokenizer trained on the fly), and each process's rows of a global batch.
On CPU the processes talk through gloo (train/process_group.py keeps them in step).
"""

from __future__ import annotations

import json
import os

import jax
import numpy as np

_COORDINATOR_VARIABLES = ("JAX_COORDINATOR_ADDRESS", "COORDINATOR_ADDRESS")
HEARTBEAT_S = 30


def adopt_vertex_cluster_spec() -> None:
    """Set the JAX_* variables from Vertex AI's CLUSTER_SPEC when it lists several replicas (and they are unset).

    Vertex AI tells each replica of a multi-pool CustomJob who its peers are in CLUSTER_SPEC:
    {"cluster": {"workerpool0": ["host:port"], "workerpool1": ["host:port", ...]}, "task": {"type":
    "workerpool1", "index": 0}}. The primary replica (workerpool0) is the coordinator, and processes are
    numbered pool by pool, so process 0 is the primary: the one that writes the run's files.
    """
    text = os.environ.get("CLUSTER_SPEC")
    if not text or os.environ.get("JAX_COORDINATOR_ADDRESS"):
        return
    try:
        spec = json.loads(text)
        pools = spec["cluster"]
        names = sorted(pools, key=lambda name: int(name.removeprefix("workerpool")))
        hosts = [(name, index) for name in names for index in range(len(pools[name]))]
        task = (spec["task"]["type"], int(spec["task"]["index"]))
        process_id = hosts.index(task)
        coordinator = pools["workerpool0"][0]
    except (ValueError, KeyError, TypeError, IndexError) as error:
        raise ValueError(f"CLUSTER_SPEC is not Vertex AI's cluster description ({error}): {text[:200]}") from error
    if len(hosts) > 1:
        os.environ["JAX_COORDINATOR_ADDRESS"] = coordinator
        os.environ["JAX_NUM_PROCESSES"] = str(len(hosts))
        os.environ["JAX_PROCESS_ID"] = str(process_id)


def multihost_requested() -> bool:
    """Whether this process was started as one of several (see initialize_if_multihost); a Vertex AI
    replica's CLUSTER_SPEC is read into the JAX_* variables first."""
    adopt_vertex_cluster_spec()
    tpu_hosts = [h for h in os.environ.get("TPU_WORKER_HOSTNAMES", "").split(",") if h]
    forced = os.environ.get("GEMMA_JAX_MULTIHOST", "") == "1"  # TPU VMs list peers in metadata, not env
    return forced or len(tpu_hosts) > 1 or any(os.environ.get(v) for v in _COORDINATOR_VARIABLES)


def initialize_if_multihost() -> bool:
    """Call `jax.distributed.initialize()` when this process is one of several.

    Triggered by GEMMA_JAX_MULTIHOST=1 (then JAX finds the peers itself, e.g. from a TPU VM's
    metadata), by TPU_WORKER_HOSTNAMES naming several hosts (GKE), by JAX_COORDINATOR_ADDRESS
    (with JAX_NUM_PROCESSES and JAX_PROCESS_ID), or by Vertex AI's CLUSTER_SPEC. Single-host runs do nothing. CPU processes
    exchange arrays through gloo (JAX's CPU collectives); GPUs and TPUs use their own.
    """
    if not multihost_requested():
        return False
    if jax.distributed.is_initialized():
        return True
    # Only the CPU backend's collectives change; GPUs and TPUs keep NCCL / ICI.
    jax.config.update("jax_cpu_collectives_implementation", "gloo")
    # A process that stops answering is declared dead after HEARTBEAT_S: the others then stop too.
    jax.distributed.initialize(
        **_explicit_peers(), heartbeat_timeout_seconds=HEARTBEAT_S, shutdown_timeout_seconds=HEARTBEAT_S
    )
    return True


def _explicit_peers() -> dict:
    """The coordinator, process count and index from the JAX_* variables where they are all set (JAX
    reads only the address itself); with the address alone JAX detects the rest (TPU VM metadata)."""
    address = os.environ.get("JAX_COORDINATOR_ADDRESS") or os.environ.get("COORDINATOR_ADDRESS")
    count, index = os.environ.get("JAX_NUM_PROCESSES"), os.environ.get("JAX_PROCESS_ID")
    if not address or (count is None and index is None):
        return {}
    try:
        return {"coordinator_address": address, "num_processes": int(count), "process_id": int(index)}
    except (TypeError, ValueError) as error:
        raise ValueError(
            f"JAX_NUM_PROCESSES={count!r}, JAX_PROCESS_ID={index!r}: set both to whole numbers (how many "
            "processes, and this one's index from 0), or neither on a TPU VM, where JAX finds them itself"
        ) from error


def is_primary() -> bool:
    """Process 0: the one that writes the run directory (always true for a single process)."""
    return jax.process_index() == 0


def barrier(name: str) -> None:
    """Wait until every process reached the barrier called `name` (nothing to wait for on one)."""
    if jax.process_count() > 1:
        from jax.experimental import multihost_utils

        multihost_utils.sync_global_devices(name)


def primary_bytes(data: bytes | None) -> bytes | None:
    """The primary's `data` on every process (e.g. a tokenizer only it trained); None stays None."""
    if jax.process_count() == 1:
        return data
    from jax.experimental import multihost_utils

    size = -1 if data is None else len(data)
    size = int(multihost_utils.broadcast_one_to_all(np.int64(size)))
    if size < 0:
        return None
    buffer = np.zeros(size, np.uint8)
    if is_primary():
        buffer[:] = np.frombuffer(data, np.uint8)
    return multihost_utils.broadcast_one_to_all(buffer).astype(np.uint8).tobytes()


def local_rows(sharding, global_shape: tuple[int, ...], axis: int = 1) -> slice:
    """The contiguous range along `axis` that this process's devices hold (the whole axis on one host)."""
    if jax.process_count() == 1:
        return slice(0, global_shape[axis])
    spans = [index[axis] for index in sharding.addressable_devices_indices_map(global_shape).values()]
    start = min(s.start or 0 for s in spans)
    stop = max(global_shape[axis] if s.stop is None else s.stop for s in spans)
    return slice(start, stop)
