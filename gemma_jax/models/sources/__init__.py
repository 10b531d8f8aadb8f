"""Model sources, one module per kind; `gemma_jax.models.loading.load_model` dispatches to them.

- `kinds`: `describe_source(source)` names the kind of a source string;
- `local_dir`: a local Keras preset or Hugging Face checkpoint directory;
- `hf_config`: fills transformers' defaults into a Hugging Face config and
  refuses settings Keras-Hub's Gemma layers cannot express;
- `hub`: Keras-Hub preset names, kaggle:// and hf:// handles -> local directory;
- `gcs`: gs:// paths -> local copy in the cache;
- `connectivity`: the quick reachability check that makes offline fail fast;
- `errors`: `ModelLoadError`.

Importing this package does not import Keras, Keras-Hub or any hub client.
"""

from gemma_jax.models.sources.errors import ModelLoadError
from gemma_jax.models.sources.kinds import SOURCE_KINDS, describe_source

__all__ = ["SOURCE_KINDS", "ModelLoadError", "describe_source"]
