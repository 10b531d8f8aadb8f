"""The Playground: a chat with the fine-tuned checkpoint and with the base model, side by side.

Each model keeps its own conversation (their answers differ): every prompt is sent
with the turns before it, which the worker formats with training's chat template and
trims to the model's context (gemma_jax.serve.conversation), saying when it left
old turns out. New chat clears both; with `chat` off each prompt stands alone.

Generation runs in a separate worker process (gemma_jax.serve) through a
GenerationClient; two threads stream the two answers into buffers, and `poll()`
(called by the page's periodic callback on the server thread) copies them into
the params the view shows, and files the finished exchange into the conversations.
Stop cancels both streams in the worker.

What cannot be answered says so on its side: a prompt over PROMPT_MAX_CHARS is refused before it
is sent (the prompt box holds more, so text the browser cut at the box's limit is refused too, never
sent cut); a model's failure (such as a prompt longer than its context) shows on that model's side,
and an answer that came back empty says why it may have.
"""

from __future__ import annotations

import re
import sys
import threading
from collections.abc import Callable

import param

from ui.state.background import job_environment
from ui.state.checkpoint_picker import CheckpointPicker

TUNED, BASE = "tuned", "base"
# What a prompt may hold: more than any model here reads (32,768 tokens is about 130,000 characters),
# and far below the websocket's message limit (ui/serve.py) even in the widest encoding.
PROMPT_MAX_CHARS = 200_000
# The worker's refusal of a prompt that alone is longer than the model's context (gemma_jax.serve.worker):
# the earlier turns were left out already, so "New chat" would not help.
TOO_LONG = re.compile(r"^This prompt is [\d,]+ tokens; this model reads at most [\d,]+")
NO_ANSWER = (
    "No answer came back: the model ended its turn at once, or the prompt (with the conversation) leaves no "
    "room for an answer in what the model reads (prompt and answer together). Try a shorter prompt."
)


def prompt_size_problem(prompt: str) -> str | None:
    """Why `prompt` is too long to send, or None."""
    if len(prompt) <= PROMPT_MAX_CHARS:
        return None
    return (
        f"The prompt is {len(prompt):,} characters; the Playground takes at most {PROMPT_MAX_CHARS:,} "
        "(more than any model here reads). Shorten it."
    )


def exchange(prompt: str, answer: str) -> list[dict]:
    """One exchange as conversation turns (the worker's `history` format)."""
    return [{"role": "user", "text": prompt}, {"role": "model", "text": answer}]


def default_client_factory(session) -> object:
    from gemma_jax.serve import GenerationClient

    return GenerationClient(python=sys.executable, env=job_environment(session))


class PlaygroundState(param.Parameterized):
    """Sampling settings, the prompt, and the two answers as they stream in."""

    temperature = param.Number(default=0.7, bounds=(0.0, 2.0), step=0.05, doc="0 = greedy (always the likeliest)")
    top_k = param.Integer(default=40, bounds=(0, 1000), doc="sample among the k likeliest tokens; 0 = all")
    top_p = param.Number(default=0.95, bounds=(0.05, 1.0), step=0.05, doc="nucleus: the likeliest tokens up to p")
    max_new_tokens = param.Integer(default=128, bounds=(1, 2048))
    seed = param.Integer(default=0, bounds=(0, None))
    approximate = param.Boolean(
        default=False,
        doc="decode with int8 weights: about twice as fast on a CPU, but APPROXIMATE (it may choose other tokens "
        "than the model itself would); off = the model's own output",
    )
    chat = param.Boolean(
        default=True,
        doc="remember the conversation: each prompt is answered with the turns before it; off = every prompt "
        "on its own",
    )
    prompt = param.String(default="")
    pending_prompt = param.String(default="", doc="the prompt being answered (or, chat off, the last one)")
    tuned_output = param.String(default="", doc="the fine-tuned model's answer to pending_prompt, as it streams")
    base_output = param.String(default="")
    tuned_history = param.List(default=[], doc="the fine-tuned model's conversation: {role, text} turns")
    base_history = param.List(default=[])
    tuned_note = param.String(default="", doc="earlier turns the model could not see this time, and why")
    base_note = param.String(default="")
    tuned_error = param.String(default="", doc="why the fine-tuned model gave no answer (its side shows it)")
    base_error = param.String(default="")
    tuned_label = param.String(default="Fine-tuned")
    base_label = param.String(default="Base model")
    running = param.Boolean(default=False)
    status = param.String(default="", doc="what is happening (loading, generating) or why it stopped")
    error = param.String(default="")

    def __init__(self, session, client_factory: Callable[[object], object] = default_client_factory, **params):
        super().__init__(**params)
        self.session = session
        self.picker = CheckpointPicker(session)
        self._client_factory = client_factory
        self._client = None
        self._loaded: dict[str, tuple] = {}  # model name -> what is loaded under it
        self._lock = threading.Lock()
        self._buffers = {TUNED: "", BASE: ""}
        self._notes = {TUNED: "", BASE: ""}
        self._side_errors = {TUNED: "", BASE: ""}
        self._errors: list[str] = []
        self._status = ""
        self._label = self.tuned_label
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._closed = False  # the browser session ended: no worker may outlive it

    # -- actions (server thread) ------------------------------------------------------------------
    def generate(self) -> bool:
        """Start both answers in the background; False (with `error` set) when it cannot start."""
        if self.running:
            return False
        self.error = ""
        problem = self.picker.problem()
        if problem is None and not self.prompt.strip():
            problem = "Type a prompt first."
        if problem is None:
            problem = prompt_size_problem(self.prompt)
        if problem:
            self.error = problem
            self._set_status("")  # the last answer's "Done." would read as this one's
            self.status = ""
            return False
        run_dir, step = self.picker.run_dir, self.picker.resolved_step
        prompt = self.prompt
        histories = {TUNED: list(self.tuned_history), BASE: list(self.base_history)} if self.chat else {}
        self.tuned_output = self.base_output = self.tuned_note = self.base_note = ""
        self.tuned_error = self.base_error = ""
        self.pending_prompt = prompt
        if self.chat:
            self.prompt = ""  # the prompt moves into the conversation (it comes back if generation fails)
        self._buffers = {TUNED: "", BASE: ""}
        self._notes = {TUNED: "", BASE: ""}
        self._side_errors = {TUNED: "", BASE: ""}
        self._errors = []
        self._stop.clear()
        self.running = True
        self.status = self._status = "Loading the models (the first time takes a while)…"
        options = {
            "temperature": float(self.temperature),
            "top_k": int(self.top_k) or None,
            "top_p": None if self.top_p >= 1.0 else float(self.top_p),
            "max_new_tokens": int(self.max_new_tokens),
            "seed": int(self.seed),
        }
        self._thread = threading.Thread(
            target=self._work, args=(str(run_dir), step, prompt, options, histories), name="gj-playground", daemon=True
        )
        self._thread.start()
        return True

    def stop(self) -> None:
        """Cancel the streams; what was generated so far stays."""
        if self.running:
            self._stop.set()
            self.status = self._status = "Stopping…"

    def new_chat(self) -> bool:
        """Forget both conversations; False while an answer is being generated (stop it first)."""
        if self.running:
            return False
        self.tuned_history, self.base_history = [], []
        self.pending_prompt = self.tuned_output = self.base_output = self.tuned_note = self.base_note = ""
        self.tuned_error = self.base_error = ""
        self.error = self.status = self._status = ""
        return True

    def poll(self) -> None:
        """Copy what the threads produced into the params (call on the server thread)."""
        with self._lock:
            tuned, base, status, errors = self._buffers[TUNED], self._buffers[BASE], self._status, list(self._errors)
            label, notes, side_errors = self._label, dict(self._notes), dict(self._side_errors)
            finished = self._thread is not None and not self._thread.is_alive()
        if self.tuned_output != tuned:
            self.tuned_output = tuned
        if self.base_output != base:
            self.base_output = base
        if self.tuned_note != notes[TUNED]:
            self.tuned_note = notes[TUNED]
        if self.base_note != notes[BASE]:
            self.base_note = notes[BASE]
        redact = self.session.confinement.redact  # worker errors name server paths
        for name, side_error in side_errors.items():
            shown = redact(side_error)
            if getattr(self, f"{name}_error") != shown:
                setattr(self, f"{name}_error", shown)
        shown = redact("\n".join(errors))
        if errors and self.error != shown:
            self.error = shown
        if self.status != status:
            self.status = status
        if self.tuned_label != label:
            self.tuned_label = label
        if finished and self.running:
            self._thread = None
            answered = bool(self.tuned_output or self.base_output)
            self._file_exchange(failed=bool(errors) or any(side_errors.values()) or not answered)
            self.running = False

    def _file_exchange(self, failed: bool) -> None:
        """At the end of an answer (chat on): the prompt and each model's answer join its conversation.
        A stopped answer joins as far as it got; after a failure (or when neither model answered anything)
        nothing does and the prompt comes back, to be shortened or sent again."""
        if not self.chat or not self.pending_prompt:
            return
        prompt, self.pending_prompt = self.pending_prompt, ""
        if failed:
            self.tuned_output = self.base_output = ""
            if not self.prompt:
                self.prompt = prompt
            return
        self.tuned_history = [*self.tuned_history, *exchange(prompt, self.tuned_output)]
        self.base_history = [*self.base_history, *exchange(prompt, self.base_output)]
        self.tuned_output = self.base_output = ""

    def wait(self, timeout: float | None = None) -> None:
        """Block until the current generation ended, then poll (for tests and scripts)."""
        if self._thread is not None:
            self._thread.join(timeout)
        self.poll()

    def close(self) -> None:
        """End the worker process (the browser session ended); a worker still starting ends too."""
        self._stop.set()
        with self._lock:
            self._closed, client, self._client = True, self._client, None
            self._loaded.clear()
        if client is not None:
            client.close()

    # -- the background work ----------------------------------------------------------------------
    def _set_status(self, text: str) -> None:
        with self._lock:
            self._status = text

    def _work(self, run_dir: str, step: int | None, prompt: str, options: dict, histories: dict) -> None:
        try:
            client = self._worker()
            if client is None:
                return
            weights = "int8" if self.approximate else "auto"
            tuned_facts = self._ensure(client, TUNED, run_dir, step, weights)
            self._ensure(client, BASE, client.base_source(run_dir), None, weights)
            with self._lock:
                self._label = f"Fine-tuned (step {tuned_facts['step']})"
                self._status = "Generating…"
            streams = [
                threading.Thread(
                    target=self._stream, args=(client, name, prompt, options, histories.get(name, [])), daemon=True
                )
                for name in (TUNED, BASE)
            ]
            for thread in streams:
                thread.start()
            for thread in streams:
                thread.join()
            self._set_status(self._end_status())
        except Exception as error:  # noqa: BLE001  (worker failures of any kind become the page's message)
            with self._lock:
                self._errors.append(f"Generation failed: {error}")
                self._status = "Failed."
            self._loaded.clear()

    def _end_status(self) -> str:
        """What the status says once both streams ended."""
        if self._stop.is_set():
            return "Stopped."
        with self._lock:
            failed = [name for name, error in self._side_errors.items() if error]
            empty = [name for name, text in self._buffers.items() if not text and name not in failed]
        if len(failed) == 2:
            return "Failed: neither model could answer (each side says why)."
        silent = failed + empty
        if len(silent) == 2:
            return "Done, but neither model gave an answer (each side says why)."
        if silent:
            which = "fine-tuned" if silent[0] == TUNED else "base"
            return f"Done, but the {which} model gave no answer (its side says why)."
        return "Done."

    def _worker(self):
        """The session's generation client, started on first use; None once the session closed."""
        with self._lock:
            if self._closed or self._client is not None:
                return self._client
        client = self._client_factory(self.session)
        with self._lock:
            if not self._closed:
                self._client = client
                return client
        client.close()  # the session closed while this one was starting
        return None

    def _ensure(self, client, name: str, source: str, step: int | None, weights: str = "auto") -> dict:
        wanted = (source, step, weights)
        if self._loaded.get(name, (None,))[0] != wanted:
            facts = client.load(name, source, step, weights=weights)
            self._loaded[name] = (wanted, facts)
        return self._loaded[name][1]

    def _set_note(self, name: str, note: str) -> None:
        with self._lock:
            self._notes[name] = note

    def _stream(self, client, name: str, prompt: str, options: dict, history: list) -> None:
        """One model's answer into its buffer; its failure, or why it came back empty, onto its side."""
        chat = {"history": history} if history else {}
        # Notes reach the side with or without a conversation (the worker may note a single prompt too).
        pieces = client.stream(name, prompt, **options, **chat, on_note=lambda note: self._set_note(name, note))
        try:
            for piece in pieces:
                with self._lock:
                    self._buffers[name] += piece
                if self._stop.is_set():
                    break
        except Exception as error:  # noqa: BLE001
            message = str(error) or type(error).__name__
            if history and not TOO_LONG.match(message):
                message += " (the conversation so far was sent with the prompt: New chat clears it)"
            with self._lock:
                self._side_errors[name] = message
        else:
            with self._lock:
                if not self._buffers[name] and not self._stop.is_set():
                    self._notes[name] = f"{self._notes[name]}\n\n{NO_ANSWER}" if self._notes[name] else NO_ANSWER
        finally:
            pieces.close()
