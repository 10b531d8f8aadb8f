"""What hardware a run trained on, in the words a model card uses (recorded in status.json)."""

from __future__ import annotations

import jax


def device_summary() -> dict:
    """{"platform", "device_kind", "devices", "processes"} of the JAX runtime in this process."""
    devices = jax.devices()
    return {
        "platform": jax.default_backend(),
        "device_kind": devices[0].device_kind if devices else "unknown",
        "devices": len(devices),
        "processes": jax.process_count(),
    }
