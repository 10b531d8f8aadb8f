"""gemma-jax: fine-tune Gemma models with JAX and Keras-Hub.

The public API is small on purpose: a config, the run directory, and the
engine's entry points. Heavy modules (JAX, Keras) load only when used, so the
dashboard and CLI start fast.
"""

import os

os.environ.setdefault("KERAS_BACKEND", "jax")
# Keras-Hub imports TensorFlow (for its tokenizers); keep its C++ start-up chatter out of users' terminals.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
# Orbax reaches gs:// checkpoints through etils, which picks TensorFlow's GFile when TensorFlow is installed
# (it is, for TFDS) and remembers that choice for the whole process at the first gs:// path. GFile has its own
# credentials and ignores STORAGE_EMULATOR_HOST; gcsfs (a dependency) uses the same ADC as everything else.
os.environ.setdefault("EPATH_USE_TF", "false")

from gemma_jax.config.job_config import JobConfig

__all__ = ["JobConfig"]
__version__ = "0.1.0"
