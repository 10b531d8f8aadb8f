"""The Playground page: sampling controls, and a chat with the fine-tuned and the base model side by side.

Each model's conversation is an HTML pane of turns, every text escaped (escape_text): readable
text at the page's normal contrast, where a disabled text box showed answers greyed out.
"""

from __future__ import annotations

import panel as pn

from ui.state.playground import PROMPT_MAX_CHARS, PlaygroundState, prompt_size_problem
from ui.views.checkbox import checkbox_for
from ui.views.checkpoint_picker import CheckpointPage, picker_row
from ui.views.safe_text import escape_text

POLL_MS = 150
# column-reverse keeps a scrolled conversation at its newest turn as answers stream in.
CHAT_CSS = """
.gj-chat { display: flex; flex-direction: column-reverse; max-height: 60vh; overflow-y: auto;
  border: 1px solid rgba(128,128,128,.35); border-radius: 6px; padding: 8px; min-height: 120px; }
.gj-chat-turns { display: flex; flex-direction: column; gap: 8px; }
.gj-turn { border-radius: 8px; padding: 6px 10px; line-height: 1.45; overflow-wrap: anywhere; }
.gj-turn-user { background: rgba(0,114,181,.10); margin-left: 12%; }
.gj-turn-model { background: rgba(128,128,128,.12); margin-right: 12%; }
.gj-turn-who { font-size: .8em; font-weight: 600; margin-bottom: 2px; }
.gj-chat-empty { opacity: .8; font-style: italic; }
"""
APPROXIMATE_LABEL = "Fast approximate decoding (int8: may differ from the model's own answer)"
CHAT_LABEL = "Chat: answer each prompt with the conversation so far (off: every prompt on its own)"
WRAP = {"flex_wrap": "wrap", "gap": "4px 16px", "align_items": "flex-end"}
# The prompt box's own limit. A browser cuts pasted text at a text box's maxlength without a word
# (Panel's default is 5,000 characters), so the box holds five times what the Playground sends:
# text it cut is still over PROMPT_MAX_CHARS, and is refused with a message instead of sent cut.
# A million characters is at most ~6 MB in a websocket message (JSON escapes), under its limit (ui/serve.py).
PROMPT_BOX_CHARS = 5 * PROMPT_MAX_CHARS


def prompt_size_warning(text: str | None) -> str:
    """The warning under the prompt box while it holds more than the Playground sends ("" when it does not)."""
    problem = prompt_size_problem(text or "")
    return escape_text(problem) if problem else ""


def _turn(role: str, who: str, text: str, streaming: bool = False) -> str:
    shown = escape_text(text) if text else ("…" if streaming else "&#160;")
    return (
        f'<div class="gj-turn gj-turn-{role}"><div class="gj-turn-who">{escape_text(who)}</div>'
        f'<div class="gj-turn-text">{shown}</div></div>'
    )


def render_conversation(history: list[dict], pending: str, answer: str, label: str, running: bool) -> str:
    """The turns so far, then the prompt being answered and the answer as far as it has come; all text escaped."""
    turns = [
        _turn("user", "You", turn["text"]) if turn["role"] == "user" else _turn("model", label, turn["text"])
        for turn in history
    ]
    if pending:
        turns += [_turn("user", "You", pending), _turn("model", label, answer, streaming=running)]
    if not turns:
        return '<div class="gj-chat"><div class="gj-chat-empty">No conversation yet: type a prompt below.</div></div>'
    return f'<div class="gj-chat"><div class="gj-chat-turns">{"".join(turns)}</div></div>'


class PlaygroundPage(CheckpointPage):
    def __init__(self, session, state: PlaygroundState | None = None, **params):
        super().__init__(session, state or PlaygroundState(session), "Playground", POLL_MS, **params)
        s = self.state
        if pn.state.curdoc is not None:  # the worker process and its models go with the browser session
            pn.state.on_session_destroyed(lambda _context: self.state.close())
        controls = [
            pn.widgets.FloatSlider.from_param(
                s.param.temperature, name="Temperature", width=200, css_classes=["gj-playground-temperature"]
            ),
            pn.widgets.IntSlider.from_param(
                s.param.top_k, name="Top-k (0 = off)", width=200, css_classes=["gj-playground-top-k"]
            ),
            pn.widgets.FloatSlider.from_param(
                s.param.top_p, name="Top-p", width=200, css_classes=["gj-playground-top-p"]
            ),
            pn.widgets.IntInput.from_param(
                s.param.max_new_tokens, name="Max new tokens", width=140, css_classes=["gj-playground-max-tokens"]
            ),
            pn.widgets.IntInput.from_param(s.param.seed, name="Seed", width=120, css_classes=["gj-playground-seed"]),
        ]
        self.approximate = checkbox_for(s, "approximate", APPROXIMATE_LABEL, ["gj-playground-approximate"])
        self.chat = checkbox_for(s, "chat", CHAT_LABEL, ["gj-playground-chat"])
        self.prompt = pn.widgets.TextAreaInput.from_param(
            s.param.prompt,
            name="Prompt",
            placeholder="Ask something the run was trained on…",
            rows=3,
            max_length=PROMPT_BOX_CHARS,
            sizing_mode="stretch_width",
            css_classes=["gj-playground-prompt"],
        )
        too_long = pn.bind(prompt_size_warning, self.prompt.param.value_input)  # as the user types or pastes
        self.prompt_warning = pn.pane.Alert(
            too_long,
            alert_type="warning",
            visible=pn.bind(bool, too_long),
            sizing_mode="stretch_width",
            css_classes=["gj-playground-prompt-warning"],
        )
        self.generate_button = pn.widgets.Button(
            label="Generate", color="primary", css_classes=["gj-playground-generate"]
        )
        self.stop_button = pn.widgets.Button(
            label="Stop", color="warning", disabled=True, css_classes=["gj-playground-stop"]
        )
        self.new_chat_button = pn.widgets.Button(
            label="New chat",
            description="Forget both conversations and start again",
            css_classes=["gj-playground-new-chat"],
        )
        self.generate_button.on_click(lambda _event: self._follow(s.generate()))
        self.stop_button.on_click(lambda _event: s.stop())
        self.new_chat_button.on_click(lambda _event: s.new_chat())
        self.status = pn.pane.Markdown(pn.bind(escape_text, s.param.status), css_classes=["gj-playground-status"])
        self.error = pn.pane.Alert("", alert_type="danger", visible=False, css_classes=["gj-playground-error"])
        self.tuned = self._side(
            s.param.tuned_label,
            s.param.tuned_history,
            s.param.tuned_output,
            s.param.tuned_note,
            s.param.tuned_error,
            "tuned",
        )
        self.base = self._side(
            s.param.base_label, s.param.base_history, s.param.base_output, s.param.base_note, s.param.base_error, "base"
        )
        s.param.watch(self._show_state, ["running", "error"])
        self.layout = pn.Column(
            "## Playground",
            picker_row(s.picker, "playground"),
            pn.FlexBox(*controls, **WRAP, sizing_mode="stretch_width", css_classes=["gj-playground-controls"]),
            pn.FlexBox(self.approximate, self.chat, **WRAP, sizing_mode="stretch_width"),
            pn.Row(self.tuned, self.base, sizing_mode="stretch_width"),
            self.prompt,
            self.prompt_warning,
            pn.FlexBox(
                self.generate_button,
                self.stop_button,
                self.new_chat_button,
                self.status,
                **WRAP,
                sizing_mode="stretch_width",
            ),
            self.error,
            sizing_mode="stretch_width",
        )

    def _side(self, label, history, output, note, error, side: str) -> pn.Column:
        """One model's heading, conversation, note (turns it could not see, an empty answer) and error (why it
        could not answer, such as a prompt longer than it reads)."""
        s = self.state

        def conversation(label, history, pending, answer, running, chat):
            return render_conversation(history if chat else [], pending, answer, label, running)

        body = pn.pane.HTML(
            pn.bind(conversation, label, history, s.param.pending_prompt, output, s.param.running, s.param.chat),
            stylesheets=[CHAT_CSS],
            sizing_mode="stretch_width",
            css_classes=[f"gj-playground-{side}-output"],
        )
        shown_note = _side_alert(note, "warning", f"gj-playground-{side}-note")
        shown_error = _side_alert(error, "danger", f"gj-playground-{side}-error")
        return pn.Column(
            pn.pane.Markdown(pn.bind(lambda value: f"### {escape_text(value)}", label)),
            body,
            shown_error,
            shown_note,
            sizing_mode="stretch_width",
        )

    def _show_state(self, _event=None) -> None:
        running = self.state.running
        self.generate_button.disabled, self.stop_button.disabled = running, not running
        self.new_chat_button.disabled = running
        self.error.object, self.error.visible = escape_text(self.state.error), bool(self.state.error)


def _side_alert(text, alert_type: str, css_class: str) -> pn.pane.Alert:
    """A message under one model's answer, shown while `text` (a param) is not empty, escaped."""
    return pn.pane.Alert(
        pn.bind(escape_text, text),
        alert_type=alert_type,
        visible=pn.bind(bool, text),
        sizing_mode="stretch_width",
        css_classes=[css_class],
    )
