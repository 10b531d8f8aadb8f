"""`gemma-jax serve MODEL`: load the model, then serve the OpenAI API under uvicorn until SIGTERM/Ctrl-C.

argparse only at import time: the CLI builds its parser without loading JAX. Once the model is loaded
and the socket listens, stdout gets exactly one line, `serving http://HOST:PORT/v1` (tools wait for
it); logs go to stderr. SIGTERM is a graceful shutdown: the socket closes, open requests get up to
--shutdown-timeout seconds to finish, queued ones are answered 503, and the process exits 0.
A client gets --header-timeout seconds to send a request's line and headers (http_protocol.py).
Vertex AI's custom-container variables are honoured: AIP_HTTP_PORT (then host 0.0.0.0),
AIP_HEALTH_ROUTE and AIP_PREDICT_ROUTE.
A request without `temperature` is decoded greedily (temperature 0: the model's own most likely answer),
where OpenAI's API and vLLM default to 1.0; a client that wants sampling sends a temperature.
"""

from __future__ import annotations

import argparse
import errno
import math
import os
import signal
import socket
import sys

from gemma_jax.command_line import positive_int
from gemma_jax.serve.openai.protocol import CHAT_MAX_TOKENS, COMPLETION_MAX_TOKENS

API_KEY_ENV = "GEMMA_JAX_API_KEY"
DEFAULT_HEADER_TIMEOUT_S = 20.0


def port_number(text: str) -> int:
    """An argparse `type`: a TCP port, 1 to 65535, or 0 for any free port."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a port number, got {text!r}") from None
    if not 0 <= value <= 65535:
        raise argparse.ArgumentTypeError(f"a port is 1 to 65535 (or 0: any free port), got {value}")
    return value


SAMPLING_EPILOG = (
    "Requests: without `temperature` an answer is greedy (temperature 0, the model's own most likely tokens), "
    "unlike OpenAI's API and vLLM, whose default is 1.0; send a temperature (0 to 2) to sample, with top_k "
    "(default 50; -1: every token), top_p and seed. Parameters this server cannot honour (repetition_penalty, "
    "min_p, presence/frequency penalties, logit_bias, logprobs, n > 1, ...) are refused with a 400 unless "
    "given their neutral value."
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.description = parser.description or "An OpenAI-compatible HTTP server for a run, an export or a model."
    parser.epilog = SAMPLING_EPILOG
    parser.add_argument(
        "model", help="a RUN_DIR, an export folder, or a model source (gemma3_270m, a preset folder, a .gguf file, ...)"
    )
    parser.add_argument("--step", type=int, default=None, help="checkpoint step of a run (default latest)")
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    parser.add_argument(
        "--port", type=port_number, default=8000, help="port to listen on (default 8000; 0: any free port)"
    )
    parser.add_argument(
        "--api-key", default=None, help=f"require `Authorization: Bearer KEY` (or set {API_KEY_ENV}, which ps hides)"
    )
    parser.add_argument("--max-batch", type=positive_int, default=8, help="requests decoded together (default 8)")
    parser.add_argument("--max-queue", type=int, default=64, help="requests that may wait; more get 503 (default 64)")
    parser.add_argument("--request-timeout", type=float, default=600.0, help="seconds per request (default 600)")
    parser.add_argument(
        "--batch-wait-ms", type=float, default=50.0, help="how long a new batch waits for company (default 50)"
    )
    parser.add_argument(
        "--header-timeout",
        type=float,
        default=DEFAULT_HEADER_TIMEOUT_S,
        help=f"seconds a client has to send a request's line and headers; slower ones are closed "
        f"(default {DEFAULT_HEADER_TIMEOUT_S:g})",
    )
    parser.add_argument(
        "--default-max-tokens",
        type=positive_int,
        default=None,
        help=f"answer length when max_tokens is not given (default {CHAT_MAX_TOKENS} for chat, "
        f"{COMPLETION_MAX_TOKENS} for /v1/completions as OpenAI's and vLLM's; given, it applies to both)",
    )
    parser.add_argument(
        "--weights",
        choices=("auto", "float32", "bfloat16", "int8"),
        default="auto",
        help="decoder weights: auto keeps the model's own dtype (its own output); int8/bfloat16 are faster, approximate",
    )
    parser.add_argument("--shutdown-timeout", type=float, default=30.0, help="seconds open requests get on SIGTERM")
    parser.add_argument("--log-level", default="info", choices=("critical", "error", "warning", "info", "debug"))


def listen_address(args: argparse.Namespace) -> tuple[str, int]:
    """(host, port): Vertex AI's AIP_HTTP_PORT on all interfaces when set, else the flags."""
    port = os.environ.get("AIP_HTTP_PORT")
    if port:
        try:
            return "0.0.0.0", port_number(port)  # Vertex AI: its proxy must reach us
        except argparse.ArgumentTypeError as error:
            raise ValueError(f"AIP_HTTP_PORT: {error}") from None
    return args.host, args.port


def check_can_listen(host: str, port: int, hint: str = "pick another with --port") -> None:
    """Bind HOST:PORT once and let go, so that a port in use (or a host that is not ours) is said in one
    line before the model loads, not after. uvicorn binds it again later; port 0 always binds."""
    try:
        addresses = socket.getaddrinfo(host or None, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except (socket.gaierror, UnicodeError) as error:
        raise ValueError(f"cannot listen on {host}: the host is unknown ({error})") from None
    for family, kind, proto, _, address in addresses:
        try:
            with socket.socket(family, kind, proto) as probe:
                probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as uvicorn does
                probe.bind(address)
        except OSError as error:
            if error.errno == errno.EADDRINUSE:
                raise ValueError(f"port {port} on {host} is in use; {hint}") from None
            if error.errno == errno.EAFNOSUPPORT:
                continue  # e.g. no IPv6 here
            reason = error.strerror or str(error)
            raise ValueError(f"cannot listen on port {port} of {host}: {reason}") from None


def _check(args: argparse.Namespace) -> None:
    if args.max_queue < 0:
        raise ValueError(f"--max-queue must be 0 or more, got {args.max_queue}")
    if args.request_timeout <= 0 or args.shutdown_timeout < 0 or args.batch_wait_ms < 0:
        raise ValueError("--request-timeout must be above 0, --shutdown-timeout and --batch-wait-ms 0 or more")
    if not 0 < args.header_timeout < math.inf:
        raise ValueError(f"--header-timeout must be a number of seconds above 0, got {args.header_timeout:g}")


def run(args: argparse.Namespace) -> int:
    _check(args)
    host, port = listen_address(args)
    vertex = bool(os.environ.get("AIP_HTTP_PORT"))
    check_can_listen(
        host, port, "set another AIP_HTTP_PORT" if vertex else "pick another with --port"
    )  # before loading
    api_key = args.api_key or os.environ.get(API_KEY_ENV) or None
    import uvicorn

    from gemma_jax.models.generation import Generator
    from gemma_jax.serve.openai.app import ServerSettings, build_app
    from gemma_jax.serve.openai.http_protocol import head_deadline_protocol
    from gemma_jax.serve.openai.model_source import resolve_model
    from gemma_jax.serve.openai.scheduler import Scheduler

    print(f"loading {args.model}", file=sys.stderr, flush=True)
    served = resolve_model(args.model, args.step)
    context = served.model.context_length
    generator = Generator(served.model, max_length=max(context or 0, 2), weights=args.weights)
    scheduler = Scheduler(
        generator, max_batch=args.max_batch, max_queue=args.max_queue, batch_wait_s=args.batch_wait_ms / 1000
    )
    settings = ServerSettings(
        model_id=served.model_id,
        aliases=frozenset({args.model}),
        api_key=api_key,
        request_timeout_s=args.request_timeout,
        default_max_tokens=args.default_max_tokens,
        health_route=os.environ.get("AIP_HEALTH_ROUTE") or None,
        predict_route=os.environ.get("AIP_PREDICT_ROUTE") or None,
    )
    print(f"{served.description}: model id {served.model_id!r}, {generator.weight_dtype} weights", file=sys.stderr)
    config = uvicorn.Config(
        build_app(scheduler, settings),
        host=host,
        port=port,
        log_level=args.log_level,
        timeout_graceful_shutdown=args.shutdown_timeout,
        lifespan="on",
        http=head_deadline_protocol(args.header_timeout),  # uvicorn's h11 protocol, with a deadline for headers
    )
    server = _announcing_server(config)
    # uvicorn re-raises the signal that stopped it; SIGTERM is our normal stop, so it then does nothing.
    signal.signal(signal.SIGTERM, lambda signum, frame: None)
    server.run()
    return 0 if server.started else 1


def _announcing_server(config):
    """A uvicorn Server that prints `serving http://HOST:PORT/v1` on stdout once the socket listens
    (with port 0, the port it got). Defined here because uvicorn loads only when serving."""
    import uvicorn

    class AnnouncingServer(uvicorn.Server):
        async def startup(self, sockets=None) -> None:
            await super().startup(sockets)
            if self.started and not self.should_exit:
                port = self.servers[0].sockets[0].getsockname()[1] if self.servers else self.config.port
                print(f"serving http://{self.config.host}:{port}/v1", flush=True)

    return AnnouncingServer(config)
