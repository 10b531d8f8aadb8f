"""The HTTP side: Starlette routes for OpenAI's API, /health and Vertex AI's predict and health routes.

Handlers run on the event loop and never touch JAX: they check the request (protocol.py), turn it
into token ids (prompts.py), queue a Ticket with the scheduler and await its events, which the
scheduler thread posts onto the loop. A client that disconnects cancels its row; a request past
its --request-timeout gets 504 (or, streaming, an error event). With an API key set, every route
but the health routes wants `Authorization: Bearer KEY`, compared in constant time.
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import json
import logging
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from gemma_jax.serve.openai import responses
from gemma_jax.serve.openai.prompts import prompt_ids
from gemma_jax.serve.openai.protocol import (
    CHAT_MAX_TOKENS,
    COMPLETION_MAX_TOKENS,
    ApiError,
    GenerationRequest,
    Sampling,
    parse_chat,
    parse_completion,
    parse_predict,
)
from gemma_jax.serve.openai.rows import Delta, Event, Failed, Finished, Ticket, timeout_error
from gemma_jax.serve.openai.scheduler import Scheduler

MAX_BODY_BYTES = 8 * 1024 * 1024  # a prompt past the context is refused anyway; this bounds the JSON parse
GRACE_S = 2.0  # the scheduler times rows out itself; the handler waits this much longer before giving up
BODY_TIMEOUT_S = 60.0  # a body trickled slower than this holds a connection and a handler: 408 (slowloris's POST form)

# uvicorn's own logger: its handler and --log-level apply, so a line here reads like uvicorn's own
log = logging.getLogger("uvicorn.error")


@dataclass(frozen=True)
class ServerSettings:
    model_id: str
    aliases: frozenset[str]  # other names accepted in `model` (the source as given on the command line)
    api_key: str | None = None
    request_timeout_s: float = 600.0
    default_max_tokens: int | None = None  # --default-max-tokens; None: CHAT_MAX_TOKENS or COMPLETION_MAX_TOKENS
    health_route: str | None = None  # Vertex AI's AIP_HEALTH_ROUTE
    predict_route: str | None = None  # Vertex AI's AIP_PREDICT_ROUTE


def _error(error: ApiError) -> JSONResponse:
    headers = {"Retry-After": "1"} if error.status == 503 else None
    return JSONResponse(error.body(), status_code=error.status, headers=headers)


async def _read_json(request: Request, timeout_s: float = BODY_TIMEOUT_S) -> object:
    """The body as JSON: at most MAX_BODY_BYTES (413), whole within `timeout_s` (408), valid (400)."""
    size, chunks = 0, []
    try:
        async with asyncio.timeout(timeout_s):
            async for chunk in request.stream():
                size += len(chunk)
                if size > MAX_BODY_BYTES:
                    raise ApiError(413, f"the request body is over {MAX_BODY_BYTES // 2**20} MB")
                chunks.append(chunk)
    except TimeoutError:
        raise ApiError(408, f"the request body did not arrive within {timeout_s:g} s; send it at once") from None
    try:
        return json.loads(b"".join(chunks))
    except (ValueError, UnicodeDecodeError) as error:
        raise ApiError(400, f"the request body is not valid JSON: {error}") from None
    except RecursionError:  # the C decoder refuses nesting past Python's recursion limit
        raise ApiError(400, "the request body's JSON is nested too deeply to read") from None


async def _disconnected(request: Request) -> None:
    """Returns when the client closes the connection (the body has been read already)."""
    while (await request.receive())["type"] != "http.disconnect":
        pass


class Submission:
    """A queued request as the handler sees it: its ticket and the events the scheduler posts back."""

    def __init__(
        self, scheduler: Scheduler, ids: list[int], sampling: Sampling, max_new: int, timeout_s: float, exact: bool
    ):
        loop = asyncio.get_running_loop()
        self.events: asyncio.Queue[Event] = asyncio.Queue()

        def deliver(event: Event) -> None:  # called on the scheduler thread
            with contextlib.suppress(RuntimeError):  # the loop is gone: nobody listens any more
                loop.call_soon_threadsafe(self.events.put_nowait, event)

        self.ticket = Ticket(ids, sampling, max_new, deliver, timeout_s, exact_text=exact)
        scheduler.submit(self.ticket)

    async def next(self) -> Event:
        remaining = self.ticket.deadline - time.monotonic() + GRACE_S
        try:
            return await asyncio.wait_for(self.events.get(), max(remaining, 0.01))
        except TimeoutError:
            self.ticket.cancel()
            return Failed(timeout_error(self.ticket.timeout_s))

    async def collect(self) -> tuple[str, Finished]:
        parts = []
        while True:
            event = await self.next()
            if isinstance(event, Delta):
                parts.append(event.text)
            elif isinstance(event, Finished):
                return "".join(parts), event
            else:
                raise event.error


class OpenAIServer:
    def __init__(self, scheduler: Scheduler, settings: ServerSettings):
        self.scheduler = scheduler
        self.settings = settings
        self.tokenizer = scheduler.generator.model.tokenizer
        self.context_length = scheduler.generator.model.context_length
        self.created = int(time.time())

    # --- helpers -------------------------------------------------------------------------------
    def _authorize(self, request: Request) -> None:
        key = self.settings.api_key
        if not key:
            return
        header = request.headers.get("authorization", "")
        scheme, _, given = header.partition(" ")
        if scheme.lower() != "bearer" or not hmac.compare_digest(given.strip().encode(), key.encode()):
            raise ApiError(
                401,
                "missing or incorrect API key: send `Authorization: Bearer KEY` with the server's key",
                code="invalid_api_key",
            )

    def _check_model(self, name: str | None) -> None:
        if name is not None and name != self.settings.model_id and name not in self.settings.aliases:
            raise ApiError(
                404,
                f"the model `{name}` does not exist here; this server serves `{self.settings.model_id}`",
                param="model",
                code="model_not_found",
            )

    def _default_max_tokens(self, completions: bool) -> int:
        """The answer length of a request without max_tokens: 16 on /v1/completions, as OpenAI's and
        vLLM's, 256 elsewhere (chat, Vertex predict), or --default-max-tokens everywhere when given."""
        if self.settings.default_max_tokens is not None:
            return self.settings.default_max_tokens
        return COMPLETION_MAX_TOKENS if completions else CHAT_MAX_TOKENS

    def _submit(self, request: GenerationRequest, default_max_tokens: int) -> Submission:
        ids = prompt_ids(request, self.tokenizer)
        param = "prompt" if request.prompt is not None else "messages"
        context = self.context_length
        if context and len(ids) >= context:
            raise ApiError(
                400,
                f"the prompt is {len(ids):,} tokens and the model reads at most {context:,} tokens "
                "(prompt and answer together); shorten it",
                param=param,
                code="context_length_exceeded",
            )
        room = context - len(ids) if context else None
        wanted = request.sampling.max_tokens
        if wanted is not None and room is not None and wanted > room:
            raise ApiError(
                400,
                f"max_tokens is {wanted:,} but only {room:,} tokens fit after the {len(ids):,}-token prompt "
                f"(the model reads at most {context:,}); ask for fewer",
                param="max_tokens",
                code="context_length_exceeded",
            )
        max_new = wanted or min(default_max_tokens, room or default_max_tokens)
        # A raw prompt's continuation is its exact text (prompt + text is what the model wrote, and a stop
        # such as "\n" sees a leading newline), as OpenAI's and vLLM's completions are; a chat answer is stripped.
        exact = request.prompt is not None
        return Submission(self.scheduler, ids, request.sampling, max_new, self.settings.request_timeout_s, exact)

    # --- routes --------------------------------------------------------------------------------
    async def models(self, request: Request) -> Response:
        self._authorize(request)
        return JSONResponse(responses.model_list(self.settings.model_id, self.created))

    async def model(self, request: Request) -> Response:
        """The served model's object for its id or an alias (the openai SDK's `client.models.retrieve`)."""
        self._authorize(request)
        name = request.path_params["model_id"]
        if name != self.settings.model_id and name not in self.settings.aliases:
            raise ApiError(
                404,
                f"the model `{name}` does not exist here; this server serves `{self.settings.model_id}`",
                code="model_not_found",
            )
        return JSONResponse(responses.model_object(self.settings.model_id, self.created))

    async def health(self, request: Request) -> Response:
        ready = self.scheduler.running
        body = {"status": "ok" if ready else "stopping", "model": self.settings.model_id}
        counts = {"queued": self.scheduler.queued, "batches": self.scheduler.batches, "rows": self.scheduler.rows}
        return JSONResponse({**body, **counts}, status_code=200 if ready else 503)

    async def completions(self, request: Request) -> Response:
        return await self._answer(request, parse_completion, chat=False)

    async def chat(self, request: Request) -> Response:
        return await self._answer(request, parse_chat, chat=True)

    async def _answer(self, request: Request, parse: Callable[[object], GenerationRequest], chat: bool) -> Response:
        self._authorize(request)
        parsed = parse(await _read_json(request))
        self._check_model(parsed.model)
        submission = self._submit(parsed, self._default_max_tokens(completions=not chat))
        shaper = responses.Shaper(parsed.model or self.settings.model_id, chat)
        if parsed.stream:
            first = await submission.next()  # errors before the first token still get their HTTP status
            if isinstance(first, Failed):
                return _error(first.error)
            stream = self._stream(submission, first, shaper, parsed.include_usage)
            return StreamingResponse(stream, media_type="text/event-stream", headers={"Cache-Control": "no-cache"})
        collect = asyncio.ensure_future(submission.collect())
        gone = asyncio.ensure_future(_disconnected(request))
        try:
            await asyncio.wait({collect, gone}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            gone.cancel()
            submission.ticket.cancel()  # finished already, or nobody waits for it any more
        if not collect.done():
            collect.cancel()
            return Response(status_code=499)  # the client is gone; nobody reads this
        text, finished = collect.result()
        body = shaper.complete(text, finished.reason, finished.prompt_tokens, finished.completion_tokens)
        return JSONResponse(body)

    async def _stream(
        self, submission: Submission, event: Event, shaper: responses.Shaper, include_usage: bool
    ) -> AsyncIterator[str]:
        try:
            first = shaper.first_chunk()
            if first is not None:
                yield responses.sse(first)
            while True:
                if isinstance(event, Delta):
                    yield responses.sse(shaper.text_chunk(event.text))
                elif isinstance(event, Finished):
                    yield responses.sse(shaper.final_chunk(event.reason))
                    if include_usage:
                        yield responses.sse(shaper.usage_chunk(event.prompt_tokens, event.completion_tokens))
                    break
                else:
                    yield responses.sse(event.error.body())
                    break
                event = await submission.next()
            yield responses.DONE
        finally:
            submission.ticket.cancel()  # the client went away mid-stream: its row stops decoding

    async def predict(self, request: Request) -> Response:
        """Vertex AI: every instance queued at once (so they share a batch), answered in order."""
        self._authorize(request)
        default_max_tokens = self._default_max_tokens(completions=False)
        submissions = [self._submit(p, default_max_tokens) for p in parse_predict(await _read_json(request))]
        try:
            results = await asyncio.gather(*(s.collect() for s in submissions))
        finally:
            for submission in submissions:
                submission.ticket.cancel()
        predictions = [
            {
                "text": text,
                "finish_reason": finished.reason,
                "usage": responses.usage(finished.prompt_tokens, finished.completion_tokens),
            }
            for text, finished in results
        ]
        return JSONResponse({"predictions": predictions})


def _guard(handler: Callable) -> Callable:
    """ApiErrors become OpenAI's error JSON with their status; a client gone before its body arrived
    gets one log line (there is nobody to answer)."""

    async def guarded(request: Request) -> Response:
        try:
            return await handler(request)
        except ApiError as error:
            return _error(error)
        except ClientDisconnect:
            who = f"{request.client.host}:{request.client.port}" if request.client else "a client"
            log.info(
                "%s - %s %s: the client disconnected before sending its whole body",
                who,
                request.method,
                request.url.path,
            )
            return Response(status_code=499)  # nobody reads this

    return guarded


async def _http_error(request: Request, error: HTTPException) -> Response:
    message = f"no route {request.method} {request.url.path}" if error.status_code in (404, 405) else error.detail
    return _error(ApiError(error.status_code, message, code="not_found" if error.status_code == 404 else None))


def build_app(scheduler: Scheduler, settings: ServerSettings) -> Starlette:
    server = OpenAIServer(scheduler, settings)
    routes = [
        Route("/v1/models", _guard(server.models), methods=["GET"]),
        Route("/v1/models/{model_id:path}", _guard(server.model), methods=["GET"]),  # ids such as google/gemma-3-1b-it
        Route("/v1/completions", _guard(server.completions), methods=["POST"]),
        Route("/v1/chat/completions", _guard(server.chat), methods=["POST"]),
        Route("/health", _guard(server.health), methods=["GET"]),
    ]
    if settings.health_route and settings.health_route != "/health":
        routes.append(Route(settings.health_route, _guard(server.health), methods=["GET"]))
    if settings.predict_route:
        routes.append(Route(settings.predict_route, _guard(server.predict), methods=["POST"]))

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        scheduler.start()
        try:
            yield
        finally:  # uvicorn has let the open connections finish (or cancelled them) by now
            await asyncio.to_thread(scheduler.stop)

    return Starlette(routes=routes, lifespan=lifespan, exception_handlers={HTTPException: _http_error})
