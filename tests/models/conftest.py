"""The model tests reuse the engine tests' small configs and synthetic batches."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parents[1] / "engine"))
