"""The Vertex AI machines a gemma-jax job can ask for, named like the topologies (v5e-8, 1xH100, ...).

Vertex AI's custom training takes a machine type, and for GPUs an accelerator type and count, for
TPUs (v5e and later) a TPU topology (https://cloud.google.com/vertex-ai/docs/training/configure-compute).
Several GPU machines (16xH100: two a3-highgpu-8g) run as a primary pool and a worker pool; each replica
reads its peers from Vertex's CLUSTER_SPEC (parallel/distributed.adopt_vertex_cluster_spec), so the job
trains as one multi-host run. Multi-host TPU slices are not offered through Vertex AI: how its TPU worker
pools span hosts could not be checked here; the tpu/ scripts run them on TPU VMs.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class VertexMachine:
    name: str
    machine_type: str
    accelerator_type: str | None = None  # GPUs (and TPU v2/v3)
    accelerator_count: int = 0
    tpu_topology: str | None = None  # TPU v5e, v5p, v6e
    replicas: int = 1  # machines of this kind working as one multi-host job

    def machine_spec(self) -> dict:
        """The machineSpec of a worker pool (Vertex AI's REST field names)."""
        spec = {"machineType": self.machine_type}
        if self.accelerator_type:
            spec["acceleratorType"] = self.accelerator_type
            spec["acceleratorCount"] = self.accelerator_count
        if self.tpu_topology:
            spec["tpuTopology"] = self.tpu_topology
        return spec


MACHINES = {
    m.name: m
    for m in (
        VertexMachine("v5e-1", "ct5lp-hightpu-1t", tpu_topology="1x1"),
        VertexMachine("v5e-4", "ct5lp-hightpu-4t", tpu_topology="2x2"),
        VertexMachine("v5e-8", "ct5lp-hightpu-8t", tpu_topology="2x4"),
        VertexMachine("v6e-1", "ct6e-standard-1t", tpu_topology="1x1"),
        VertexMachine("v6e-4", "ct6e-standard-4t", tpu_topology="2x2"),
        VertexMachine("v6e-8", "ct6e-standard-8t", tpu_topology="2x4"),
        VertexMachine("v5p-8", "ct5p-hightpu-4t", tpu_topology="2x2x1"),
        VertexMachine("v3-8", "cloud-tpu", "TPU_V3", 8),
        VertexMachine("1xL4", "g2-standard-8", "NVIDIA_L4", 1),
        VertexMachine("1xA100", "a2-highgpu-1g", "NVIDIA_TESLA_A100", 1),
        VertexMachine("1xH100", "a3-highgpu-1g", "NVIDIA_H100_80GB", 1),
        VertexMachine("8xH100", "a3-highgpu-8g", "NVIDIA_H100_80GB", 8),
        VertexMachine("8xH200", "a3-ultragpu-8g", "NVIDIA_H200_141GB", 8),
        VertexMachine("16xH100", "a3-highgpu-8g", "NVIDIA_H100_80GB", 8, replicas=2),
        VertexMachine("16xH200", "a3-ultragpu-8g", "NVIDIA_H200_141GB", 8, replicas=2),
        VertexMachine("cpu", "n2-standard-16"),
    )
}


def get_machine(name: str) -> VertexMachine:
    """The machine called `name` (case-insensitive), or a ValueError listing them all."""
    for key, machine in MACHINES.items():
        if key.lower() == name.strip().lower():
            return machine
    raise ValueError(f"no Vertex AI machine called {name!r}; use one of {', '.join(MACHINES)}")
