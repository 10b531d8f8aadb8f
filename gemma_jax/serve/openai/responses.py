"""OpenAI's response objects and stream chunks, exactly as its API shapes them.

Completions are `text_completion` objects; chat answers are `chat.completion` objects, streamed as
`chat.completion.chunk`s whose first delta carries the role and whose last carries the
finish_reason; with stream_options.include_usage a last chunk with no choices carries the usage.
Server-sent events are `data: {json}` blocks and the stream ends with `data: [DONE]`.
"""

from __future__ import annotations

import json
import secrets
import time

DONE = "data: [DONE]\n\n"


def sse(payload: dict) -> str:
    return f"data: {json.dumps(payload, ensure_ascii=False)}\n\n"


def usage(prompt_tokens: int, completion_tokens: int) -> dict:
    return {
        "prompt_tokens": prompt_tokens,
        "completion_tokens": completion_tokens,
        "total_tokens": prompt_tokens + completion_tokens,
    }


class Shaper:
    """Builds the objects of one response: the same id, created time and model in every chunk."""

    def __init__(self, model: str, chat: bool):
        self.chat = chat
        self.model = model
        self.id = ("chatcmpl-" if chat else "cmpl-") + secrets.token_hex(12)
        self.created = int(time.time())

    def _object(self, kind: str, choices: list, **extra) -> dict:
        return {
            "id": self.id,
            "object": kind,
            "created": self.created,
            "model": self.model,
            "choices": choices,
            **extra,
        }

    def complete(self, text: str, finish_reason: str, prompt_tokens: int, completion_tokens: int) -> dict:
        """The whole answer of a request that did not stream."""
        if self.chat:
            message = {"role": "assistant", "content": text, "refusal": None}
            choice = {"index": 0, "message": message, "logprobs": None, "finish_reason": finish_reason}
            kind = "chat.completion"
        else:
            choice = {"index": 0, "text": text, "logprobs": None, "finish_reason": finish_reason}
            kind = "text_completion"
        return self._object(kind, [choice], usage=usage(prompt_tokens, completion_tokens))

    def first_chunk(self) -> dict | None:
        """Chat streams open with the assistant's role and empty content; completions have no such chunk."""
        if not self.chat:
            return None
        return self._chunk({"role": "assistant", "content": ""}, None)

    def text_chunk(self, text: str) -> dict:
        return self._chunk({"content": text} if self.chat else text, None)

    def final_chunk(self, finish_reason: str) -> dict:
        return self._chunk({} if self.chat else "", finish_reason)

    def usage_chunk(self, prompt_tokens: int, completion_tokens: int) -> dict:
        kind = "chat.completion.chunk" if self.chat else "text_completion"
        return self._object(kind, [], usage=usage(prompt_tokens, completion_tokens))

    def _chunk(self, content, finish_reason: str | None) -> dict:
        if self.chat:
            choice = {"index": 0, "delta": content, "logprobs": None, "finish_reason": finish_reason}
            return self._object("chat.completion.chunk", [choice])
        choice = {"index": 0, "text": content, "logprobs": None, "finish_reason": finish_reason}
        return self._object("text_completion", [choice])


def model_object(model_id: str, created: int) -> dict:
    """GET /v1/models/{model}: the model this server holds."""
    return {"id": model_id, "object": "model", "created": created, "owned_by": "gemma-jax"}


def model_list(model_id: str, created: int) -> dict:
    """GET /v1/models: the one model this server holds."""
    return {"object": "list", "data": [model_object(model_id, created)]}
