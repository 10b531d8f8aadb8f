"""Requests of the OpenAI API (completions, chat completions) and Vertex AI predict, checked field by field.

Every problem becomes an ApiError carrying the HTTP status and OpenAI's error shape, so the app
answers `{"error": {"message", "type", "param", "code"}}` with a message that names the field.
No JAX import: the server checks requests on its event loop while the scheduler thread decodes.
Defaults: a request without `temperature` is greedy (0: the model's own most likely answer), a deliberate
choice where OpenAI's API and vLLM default to 1.0; top_k is 50 unless given. Parameters that would change
the answer but are not implemented (UNSUPPORTED) are refused unless given their neutral value.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

MAX_STOP_STRINGS = 4  # as OpenAI's API
MAX_TEMPERATURE = 2.0
# Answer lengths for a request without max_tokens, unless the server's --default-max-tokens sets both:
# OpenAI's and vLLM's legacy completions endpoint writes 16 tokens; a chat answer gets room for a reply.
CHAT_MAX_TOKENS = 256
COMPLETION_MAX_TOKENS = 16
DEFAULT_TOP_K = 50  # sampling draws from the 50 most likely tokens unless `top_k` says otherwise (as generate)
ROLES = {"system": "system", "developer": "system", "user": "user", "assistant": "model"}
# Parameters whose non-default values we cannot honour: refused rather than silently ignored. Each takes
# the values listed (those that change nothing: null, 0 penalties, 1 for repetition_penalty...).
UNSUPPORTED = {
    "logprobs": (None, False, 0),
    "top_logprobs": (None, 0),
    "echo": (None, False),
    "best_of": (None, 1),
    "suffix": (None, ""),
    "tools": (None, []),
    "functions": (None, []),
    "tool_choice": (None, "none", "auto"),
    "logit_bias": (None, {}),
    "presence_penalty": (None, 0, 0.0),
    "frequency_penalty": (None, 0, 0.0),
    # vLLM's (and other servers') sampling extensions
    "repetition_penalty": (None, 1, 1.0),
    "min_p": (None, 0, 0.0),
    "typical_p": (None, 1, 1.0),
    "top_a": (None, 0, 0.0),
    "tfs": (None, 1, 1.0),
    "min_tokens": (None, 0),
    "ignore_eos": (None, False),
    "use_beam_search": (None, False),
    "stop_token_ids": (None, []),
    "bad_words": (None, []),
    "allowed_token_ids": (None, []),
    "guided_json": (None,),
    "guided_regex": (None,),
    "guided_choice": (None,),
    "guided_grammar": (None,),
}


class ApiError(Exception):
    """An error answered to the client in OpenAI's shape."""

    def __init__(
        self, status: int, message: str, *, type: str = "invalid_request_error", param: str | None = None, code=None
    ):
        super().__init__(message)
        self.status, self.message, self.type, self.param, self.code = status, message, type, param, code

    def body(self) -> dict:
        return {"error": {"message": self.message, "type": self.type, "param": self.param, "code": self.code}}


@dataclass(frozen=True)
class Sampling:
    """How one request is decoded; `batch_key` says which requests may share a batch."""

    max_tokens: int | None  # None: as many as the context allows, up to the server's default
    temperature: float = 0.0  # greedy unless the request sends one (OpenAI's and vLLM's default is 1.0)
    top_p: float | None = None
    top_k: int | None = DEFAULT_TOP_K
    seed: int | None = None
    stop: tuple[str, ...] = ()

    @property
    def greedy(self) -> bool:
        return self.temperature <= 0

    def batch_key(self, ticket_id: int) -> tuple:
        """Greedy rows share any batch (padding does not change them). Sampled rows share a batch only
        with the same settings; a seeded one decodes alone, so its seed gives the same text every time."""
        if self.greedy:
            return ("greedy",)
        if self.seed is not None:
            return ("seeded", ticket_id)
        return ("sampled", self.temperature, self.top_p, self.top_k)


@dataclass(frozen=True)
class Message:
    role: str  # system, user or model (Gemma's names)
    text: str


@dataclass(frozen=True)
class GenerationRequest:
    """One prompt to continue: raw text (completions) or a conversation (chat)."""

    model: str | None
    sampling: Sampling
    prompt: str | None = None
    messages: tuple[Message, ...] = ()
    stream: bool = False
    include_usage: bool = False
    extra: dict = field(default_factory=dict)


def _fail(message: str, param: str | None, code: str | None = None) -> ApiError:
    return ApiError(400, message, param=param, code=code)


def _number(body: dict, name: str, low: float, high: float, *, low_open: bool = False) -> float | None:
    value = body.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise _fail(f"`{name}` must be a number, got {value!r}", name)
    if value < low or value > high or (low_open and value == low):
        bounds = f"{'above' if low_open else 'at least'} {low:g} and at most {high:g}"
        raise _fail(f"`{name}` must be {bounds}, got {value!r}", name)
    return float(value)


def _integer(body: dict, name: str, low: int | None = None) -> int | None:
    value = body.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise _fail(f"`{name}` must be an integer, got {value!r}", name)
    if low is not None and value < low:
        raise _fail(f"`{name}` must be at least {low}, got {value}", name)
    return value


def _stop(body: dict) -> tuple[str, ...]:
    stop = body.get("stop")
    if stop is None:
        return ()
    stops = [stop] if isinstance(stop, str) else stop
    if not isinstance(stops, list) or not all(isinstance(s, str) for s in stops):
        raise _fail("`stop` must be a string or a list of strings", "stop")
    if len(stops) > MAX_STOP_STRINGS:
        raise _fail(f"`stop` takes at most {MAX_STOP_STRINGS} strings, got {len(stops)}", "stop")
    if any(not s for s in stops):
        raise _fail("`stop` strings must not be empty", "stop")
    return tuple(stops)


def _neutral(value: Any, defaults: tuple) -> bool:
    """`value` is one of `defaults`, of the same type: true is not 1, nor false 0."""
    return any(type(value) is type(default) and value == default for default in defaults)


def parse_sampling(body: dict) -> Sampling:
    """The decoding settings of a request body (completions, chat, or Vertex `parameters`)."""
    for name, defaults in UNSUPPORTED.items():
        if name in body and not _neutral(body[name], defaults):
            neutral = [d for d in defaults if d is not None]
            also = f" or send {json.dumps(neutral[0])}" if neutral else ""
            raise _fail(
                f"`{name}` is not supported by this server and would change the answer; leave it out{also}",
                name,
                "unsupported_parameter",
            )
    n = _integer(body, "n")
    if n is not None and n != 1:
        raise _fail(f"only n=1 is supported (one choice per request), got n={n}", "n", "unsupported_parameter")
    max_tokens = _integer(body, "max_completion_tokens", 1)
    if max_tokens is None:
        max_tokens = _integer(body, "max_tokens", 1)
    temperature = _number(body, "temperature", 0.0, MAX_TEMPERATURE)
    top_p = _number(body, "top_p", 0.0, 1.0, low_open=True)
    top_k = _integer(body, "top_k")  # not OpenAI's: vLLM's extension; -1 or null means every token
    if top_k is not None and top_k < 1 and top_k != -1:
        raise _fail(f"`top_k` must be at least 1 (or -1 for every token), got {top_k}", "top_k")
    if "top_k" in body:
        top_k = None if top_k in (None, -1) else top_k
    else:
        top_k = DEFAULT_TOP_K
    seed = _integer(body, "seed")
    if seed is not None and not 0 <= seed < 2**63:
        raise _fail(f"`seed` must be between 0 and 2**63 - 1, got {seed}", "seed")
    return Sampling(
        max_tokens=max_tokens,
        temperature=temperature or 0.0,
        top_p=None if top_p is None or top_p == 1.0 else top_p,
        top_k=top_k,
        seed=None if seed is None else seed % 2**31,  # the decoder's key takes 31 bits
        stop=_stop(body),
    )


def _model(body: dict) -> str:
    model = body.get("model")
    if not isinstance(model, str) or not model:
        raise _fail("`model` is required: the id GET /v1/models lists", "model")
    return model


def _stream_flags(body: dict) -> tuple[bool, bool]:
    stream = body.get("stream", False)
    if stream is None:
        stream = False
    if not isinstance(stream, bool):
        raise _fail(f"`stream` must be true or false, got {stream!r}", "stream")
    options = body.get("stream_options") or {}
    if not isinstance(options, dict) or not isinstance(options.get("include_usage", False), bool):
        raise _fail('`stream_options` must be an object like {"include_usage": true}', "stream_options")
    return stream, bool(options.get("include_usage", False))


def _prompt(value: Any, param: str) -> str:
    if isinstance(value, list) and len(value) == 1 and isinstance(value[0], str):
        value = value[0]
    if isinstance(value, list) and value and all(isinstance(v, str) for v in value):
        raise _fail(f"only one prompt per request is supported, got {len(value)}", param, "unsupported_parameter")
    if not isinstance(value, str):
        raise _fail(f"`{param}` must be a string", param)
    if not value:
        raise _fail(f"`{param}` is empty; send the text to continue", param)
    return value


def _content(value: Any, index: int, role: str) -> str:
    """A message's text: a string, or a list of {"type": "text", "text": ...} parts. As Gemma's chat template,
    each part of a user or model turn is trimmed before they are joined (`item['text'] | trim`); a system
    message's parts are joined as they are. A string is kept whole (the chat template trims it)."""
    param = f"messages[{index}].content"
    if isinstance(value, str):
        return value
    if isinstance(value, list):
        texts = []
        for part in value:
            if not isinstance(part, dict) or part.get("type") != "text" or not isinstance(part.get("text"), str):
                raise _fail(f'`{param}`: only text parts ({{"type": "text", "text": ...}}) are supported', param)
            texts.append(part["text"].strip() if role in ("user", "model") else part["text"])
        return "".join(texts)
    raise _fail(f"`{param}` must be a string or a list of text parts", param)


def parse_messages(value: Any) -> tuple[Message, ...]:
    """Chat messages as Gemma turns: system/developer, user, assistant (Gemma's `model`); ending with a user turn."""
    if not isinstance(value, list) or not value:
        raise _fail("`messages` must be a non-empty list of {role, content} objects", "messages")
    messages = []
    for index, item in enumerate(value):
        if not isinstance(item, dict):
            raise _fail(f"`messages[{index}]` must be an object with role and content", f"messages[{index}]")
        role = item.get("role")
        if role not in ROLES:
            raise _fail(
                f"`messages[{index}].role` must be one of {', '.join(ROLES)}, got {role!r}", f"messages[{index}].role"
            )
        messages.append(Message(ROLES[role], _content(item.get("content"), index, ROLES[role])))
    if messages[-1].role != "user":
        raise _fail("the last message must be from the user: the model answers it", "messages")
    return tuple(messages)


def parse_completion(body: Any) -> GenerationRequest:
    """POST /v1/completions: a raw prompt, continued as is (as `gemma-jax generate --raw`)."""
    body = _object(body)
    if "prompt" not in body:
        raise _fail("`prompt` is required", "prompt")
    stream, usage = _stream_flags(body)
    return GenerationRequest(
        _model(body), parse_sampling(body), prompt=_prompt(body["prompt"], "prompt"), stream=stream, include_usage=usage
    )


def parse_chat(body: Any) -> GenerationRequest:
    """POST /v1/chat/completions: messages in Gemma's chat template, answered as the model's turn."""
    body = _object(body)
    if body.get("response_format") not in (None, {"type": "text"}):
        raise _fail("`response_format` is not supported; only plain text", "response_format", "unsupported_parameter")
    stream, usage = _stream_flags(body)
    return GenerationRequest(
        _model(body),
        parse_sampling(body),
        messages=parse_messages(body.get("messages")),
        stream=stream,
        include_usage=usage,
    )


def parse_predict(body: Any) -> list[GenerationRequest]:
    """Vertex AI predict: {"instances": [{"prompt"} or {"messages"}, ...], "parameters": {...}}."""
    body = _object(body)
    instances = body.get("instances")
    if not isinstance(instances, list) or not instances:
        raise _fail("`instances` must be a non-empty list of {prompt} or {messages} objects", "instances")
    parameters = body.get("parameters") or {}
    if not isinstance(parameters, dict):
        raise _fail("`parameters` must be an object", "parameters")
    sampling = parse_sampling(parameters)
    requests = []
    for index, instance in enumerate(instances):
        if not isinstance(instance, dict) or ("prompt" in instance) == ("messages" in instance):
            raise _fail(f"`instances[{index}]` needs either a prompt or messages", f"instances[{index}]")
        if "prompt" in instance:
            requests.append(GenerationRequest(None, sampling, prompt=_prompt(instance["prompt"], "prompt")))
        else:
            requests.append(GenerationRequest(None, sampling, messages=parse_messages(instance["messages"])))
    return requests


def _object(body: Any) -> dict:
    if not isinstance(body, dict):
        raise _fail("the request body must be a JSON object", None)
    param = unencodable(body)
    if param is not None:
        raise _fail(
            f"`{param}` holds a lone UTF-16 surrogate (a \\ud800-\\udfff escape without its pair): not valid "
            "Unicode text; send the character itself or its whole surrogate pair",
            param,
        )
    return body


def _bad_text(text: str) -> bool:
    if text.isascii():
        return False
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False


def unencodable(body: Any) -> str | None:
    """Where the parsed JSON holds a string (or key) that is not valid Unicode, such as `messages[0].content`:
    JSON's \\ud800 escapes parse to lone surrogates, which neither the tokenizer nor a UTF-8 answer can take.
    One C-speed encode answers for almost every body; only a body that fails it is walked, one container
    at a time (an iterator per level, so a list of millions of items costs no more memory than its depth)."""
    try:
        json.dumps(body, ensure_ascii=False).encode("utf-8")
        return None
    except UnicodeEncodeError:
        pass
    if not isinstance(body, (dict, list)):
        return "body"
    stack: list[tuple[Iterator[tuple[Any, Any]], str]] = [(_children(body), "")]
    while stack:
        children, path = stack[-1]
        child = next(children, None)
        if child is None:
            stack.pop()
            continue
        key, value = child
        if isinstance(key, str) and _bad_text(key):
            return path or "body"
        where = f"{path}[{key}]" if isinstance(key, int) else (f"{path}.{key}" if path else key)
        if isinstance(value, str) and _bad_text(value):
            return where
        if isinstance(value, (dict, list)):
            stack.append((_children(value), where))
    return None


def _children(value: dict | list) -> Iterator[tuple[Any, Any]]:
    return iter(value.items()) if isinstance(value, dict) else enumerate(value)
