"""Machines gemma-jax knows by name: chips, device count, hosts, memory and peak per device, default mesh.

A `Topology` answers "what would this job need on a v5e-8" without the machine: the memory estimate
(`models/memory_check.py`) and `gemma-jax models --topology NAME` use it, and
`topology_for_devices(jax.devices())` picks the one matching the devices present.

Figures are per device as JAX sees it, which is one chip on every kind listed here: v4 and v5p chips
are one (megacore) device each, so v4-8 and v5p-8, named by TensorCores, have 4 devices; v5e and v6e
slices are named by chips. `hosts` counts JAX processes (TPU VMs): multi-host v5e slices are made of
4-chip VMs. Memory is the spec sheet's HBM (Cloud TPU system-architecture pages; for GPUs the total
nvidia-smi reports for the 80 GB H100 SXM and the 141 GB H200), peak is dense bf16 TFLOP/s per chip
(the same table as `train/flops.py`). The default mesh is the job config's default, `fsdp` over every
device (`data=1, fsdp=-1, model=1`).

Importing this module imports neither JAX nor Keras.
"""

from __future__ import annotations

import difflib
import math
import os
from dataclasses import asdict, dataclass, replace

GiB = 2**30
MiB = 2**20
GPU_MEMORY_FRACTION = 0.75  # JAX's GPU allocator takes this much of the card unless XLA_PYTHON_CLIENT_MEM_FRACTION


@dataclass(frozen=True)
class Topology:
    """A set of devices one job trains on, and the mesh it is split into."""

    name: str
    chip: str  # e.g. "TPU v5e", "H100"
    platform: str  # JAX's platform name: "tpu", "gpu" or "cpu"
    device_kind: str  # what jax.devices()[i].device_kind says
    devices: int
    hosts: int  # JAX processes
    memory_bytes: int  # per device (on CPU: the host's memory, shared by every device)
    peak_bf16_tflops: float | None  # per device, dense; None where no spec sheet applies (CPU)
    mesh: tuple[int, int, int]  # (data, fsdp, model)

    def __post_init__(self) -> None:
        if self.devices < 1 or self.hosts < 1 or self.devices % self.hosts:
            raise ValueError(f"topology {self.name}: {self.devices} devices cannot be spread over {self.hosts} hosts")
        if math.prod(self.mesh) != self.devices or min(self.mesh) < 1:
            raise ValueError(f"topology {self.name}: mesh {self.mesh} does not cover its {self.devices} devices")
        if self.memory_bytes <= 0:
            raise ValueError(f"topology {self.name}: memory per device must be positive")

    @property
    def devices_per_host(self) -> int:
        return self.devices // self.hosts

    @property
    def batch_shards(self) -> int:
        """How many pieces each batch is cut into: rows are split over data × fsdp."""
        return self.mesh[0] * self.mesh[1]

    @property
    def shared_memory(self) -> bool:
        """Whether all devices draw on one memory (the CPU backend: the host's RAM)."""
        return self.platform == "cpu"

    def usable_bytes(self, env=None) -> int:
        """Memory a job can use per device: on GPUs JAX's allocator takes XLA_PYTHON_CLIENT_MEM_FRACTION of
        the card (0.75 unless set); TPUs and the CPU host give the whole memory."""
        if self.platform != "gpu":
            return self.memory_bytes
        env = os.environ if env is None else env
        try:
            fraction = float(env.get("XLA_PYTHON_CLIENT_MEM_FRACTION", GPU_MEMORY_FRACTION))
        except ValueError:
            fraction = GPU_MEMORY_FRACTION
        return int(self.memory_bytes * min(max(fraction, 0.0), 1.0))

    def with_mesh(self, data: int, fsdp: int, model: int) -> Topology:
        """The same devices split into another mesh; one axis may be -1 (the devices left over)."""
        sizes = [data, fsdp, model]
        if sizes.count(-1) > 1 or any(s < 1 and s != -1 for s in sizes):
            raise ValueError(f"mesh {tuple(sizes)}: give sizes of at least 1, with at most one -1")
        fixed = math.prod(s for s in sizes if s != -1)
        if -1 in sizes:
            if self.devices % fixed:
                raise ValueError(f"mesh {tuple(sizes)} does not divide the {self.devices} devices of {self.name}")
            sizes[sizes.index(-1)] = self.devices // fixed
        if math.prod(sizes) != self.devices:
            raise ValueError(f"mesh {tuple(sizes)} uses {math.prod(sizes)} devices; {self.name} has {self.devices}")
        return replace(self, mesh=tuple(sizes))

    def as_dict(self) -> dict:
        return {**asdict(self), "mesh": dict(zip(("data", "fsdp", "model"), self.mesh))}


@dataclass(frozen=True)
class _Chip:
    chip: str
    platform: str
    device_kind: str  # the kind JAX reports (the first of `kinds`)
    kinds: tuple[str, ...]  # kinds that mean this chip: TPUs exactly, GPUs as a part of the name
    memory_bytes: int
    peak_bf16_tflops: float
    devices_per_host: int  # per TPU VM in multi-host slices, per machine for GPUs
    cores_per_device: int  # 2 where slice names count TensorCores (v4, v5p)
    prefix: str  # slice name: f"{prefix}-{cores}" for TPUs, f"{count}x{prefix}" for GPUs

    def matches(self, kind: str) -> bool:
        kind = kind.strip().lower()
        if self.platform == "gpu":
            return any(k.lower() in kind for k in self.kinds)
        return kind in (k.lower() for k in self.kinds)

    def name(self, devices: int) -> str:
        if self.platform == "gpu":
            return f"{devices}x{self.prefix}"
        return f"{self.prefix}-{devices * self.cores_per_device}"

    def topology(self, devices: int, hosts: int | None = None, device_kind: str | None = None) -> Topology:
        return Topology(
            name=self.name(devices),
            chip=self.chip,
            platform=self.platform,
            device_kind=device_kind or self.device_kind,
            devices=devices,
            hosts=hosts or max(1, devices // self.devices_per_host),
            memory_bytes=self.memory_bytes,
            peak_bf16_tflops=self.peak_bf16_tflops,
            mesh=(1, devices, 1),
        )


# fmt: off
CHIPS = (
    _Chip("TPU v4", "tpu", "TPU v4", ("TPU v4",), 32 * GiB, 275.0, 4, 2, "v4"),
    _Chip("TPU v5e", "tpu", "TPU v5 lite", ("TPU v5 lite", "TPU v5e"), 16 * GiB, 197.0, 4, 1, "v5e"),
    _Chip("TPU v5p", "tpu", "TPU v5p", ("TPU v5p", "TPU v5"), 95 * GiB, 459.0, 4, 2, "v5p"),
    _Chip("TPU v6e", "tpu", "TPU v6 lite", ("TPU v6 lite", "TPU v6e"), 32 * GiB, 918.0, 4, 1, "v6e"),
    # H100 SXM 80 GB (nvidia-smi: 81,559 MiB); the PCIe card (756 TFLOP/s) matches too, with the SXM peak.
    _Chip("H100", "gpu", "NVIDIA H100 80GB HBM3", ("H100",), 81_559 * MiB, 989.0, 8, 1, "H100"),
    _Chip("H200", "gpu", "NVIDIA H200", ("H200",), 143_771 * MiB, 989.0, 8, 1, "H200"),  # 141 GB: 143,771 MiB
)
# fmt: on
_BY_CHIP = {chip.prefix: chip for chip in CHIPS}


def _host_memory() -> int:
    import psutil

    return int(psutil.virtual_memory().total)


def _cpu(devices: int = 1, hosts: int = 1, memory: int | None = None) -> Topology:
    return Topology("cpu", "CPU", "cpu", "cpu", devices, hosts, memory or _host_memory(), None, (1, devices, 1))


_PRESETS = (
    _BY_CHIP["v4"].topology(4),
    _BY_CHIP["v5e"].topology(8, hosts=1),  # v5litepod-8: one VM with 8 chips
    _BY_CHIP["v5e"].topology(16),
    _BY_CHIP["v5e"].topology(32),
    _BY_CHIP["v5p"].topology(4),
    _BY_CHIP["v6e"].topology(8, hosts=1),
    _BY_CHIP["H100"].topology(1),
    _BY_CHIP["H100"].topology(8),
    _BY_CHIP["H200"].topology(1),
    _BY_CHIP["H200"].topology(8),
    _cpu(),
)
TOPOLOGIES: dict[str, Topology] = {t.name: t for t in _PRESETS}
_LOWER = {name.lower(): name for name in TOPOLOGIES}


def topology_names() -> tuple[str, ...]:
    return tuple(TOPOLOGIES)


def get_topology(name: str) -> Topology:
    """A preset by name (case does not matter); ValueError naming the presets when there is none."""
    key = str(name).strip().lower()
    if key in _LOWER:
        return TOPOLOGIES[_LOWER[key]]
    close = difflib.get_close_matches(key, list(_LOWER), n=1, cutoff=0.6)
    hint = f"did you mean {_LOWER[close[0]]}? " if close else ""
    raise ValueError(f"unknown topology {name!r}; {hint}known topologies: {', '.join(TOPOLOGIES)}")


def topology_for_devices(devices) -> Topology:
    """The topology of `devices` (e.g. `jax.devices()`: objects with `platform` and `device_kind`).

    A preset when the chip and the count match one, else the chip's figures for that count ("v5e-4",
    "2xH100"); on the CPU backend the "cpu" topology with the real device count. An accelerator no
    preset knows is described from its own report (`memory_stats()["bytes_limit"]`), with no peak.
    """
    devices = list(devices)
    if not devices:
        raise ValueError("no devices to describe")
    first = devices[0]
    kind = str(getattr(first, "device_kind", "") or "")
    platform = str(getattr(first, "platform", "") or "").lower()
    count = len(devices)
    hosts = len({getattr(d, "process_index", 0) for d in devices})
    hosts = hosts if count % hosts == 0 else 1
    if platform == "cpu":
        return _cpu(count, hosts)
    chip = next((c for c in CHIPS if c.platform == platform and c.matches(kind)), None)
    if chip is None:
        chip = next((c for c in CHIPS if c.matches(kind)), None)  # a fake or unusual platform name
    if chip is not None:
        preset = TOPOLOGIES.get(chip.name(count))
        if preset is not None and preset.chip == chip.chip:
            return replace(preset, device_kind=kind or preset.device_kind, hosts=hosts)
        return chip.topology(count, hosts=hosts, device_kind=kind or None)
    memory = _reported_memory(first)
    if memory is None:
        raise ValueError(
            f"no topology preset for {count} x {kind or platform or 'unknown device'} and the device reports no "
            f"memory; name one of: {', '.join(TOPOLOGIES)}"
        )
    name = f"{count}x{kind or platform}"
    return Topology(name, kind or platform, platform, kind, count, hosts, memory, None, (1, count, 1))


def _reported_memory(device) -> int | None:
    try:
        stats = device.memory_stats() or {}
    except (AttributeError, RuntimeError, NotImplementedError):
        return None
    limit = stats.get("bytes_limit")
    return int(limit) if limit else None
