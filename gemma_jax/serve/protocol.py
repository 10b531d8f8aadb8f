"""The JSON-lines protocol between GenerationClient and the worker (no JAX import).

Requests (one JSON object a line on the worker's stdin), each with a client-chosen "id":
  {"op": "load", "name", "source", "step", "weights"} -> {"event": "result", "result": {facts}}
                                                  (weights: "auto", the model's own output, or "int8": approximate)
  {"op": "generate", "name", "prompt", "temperature", "top_k", "top_p", "max_new_tokens", "seed", "chat",
   "history"}                                     -> {"event": "delta", "text"}... then {"event": "done", "cancelled"}
      history (chat only): the earlier turns [{"role": "user"|"model", "text"}], formatted with the prompt in
      training's chat template; when they do not all fit, the oldest exchanges are left out and a
      {"event": "note", "message", "dropped"} reply comes before the first delta
  {"op": "cancel", "target": id}                 (no reply of its own: the target ends with done/cancelled)
  {"op": "shutdown"}
Any request may instead end with {"event": "error", "message"}; the worker stays up.
The worker announces itself with {"event": "ready"} once it can take requests.
"""

from __future__ import annotations

BASE_PREFIX = "base:"  # "base:RUN_DIR": the model a run started from (its source, seed and tokenizer)
OPS = ("load", "generate", "cancel", "shutdown")


def base_source(run_dir: str) -> str:
    return BASE_PREFIX + str(run_dir)
