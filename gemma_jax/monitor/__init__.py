"""What the machine has and how busy it is, for the dashboard; never imports JAX.

The dashboard server must not open an accelerator (a TPU admits one process), so
everything here asks the OS, NVML or libtpu's metrics service instead of JAX.
"""

from gemma_jax.monitor.hardware import Hardware, detect_hardware
from gemma_jax.monitor.sampler import SystemSampler

__all__ = ["Hardware", "SystemSampler", "detect_hardware"]
