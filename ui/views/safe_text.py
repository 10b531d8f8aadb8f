"""User-derived text (file, column and run names, model sources, cell values, errors, logs, samples,
generated text) shown in the dashboard as text, never as markup.

Every place that shows such text renders markup: Panel's Markdown and Alert panes parse Markdown
with raw HTML, links, images and auto-links; its HTML panes run <script> tags; notification toasts
and Tabulator column titles are set as innerHTML. `escape_text` makes a string inert in all of them
at once, so a view never has to know which renderer a pane uses: the HTML specials and the
characters Markdown (and its link, emoji and math plugins) reacts to become numeric character
references, which both HTML and Markdown show as the character itself. Table cells are text already
(Bokeh's formatters set textContent); `text_table` makes the column titles text too.
"""

from __future__ import annotations

import re

import pandas as pd
import panel as pn

# Characters that are markup anywhere in a line: HTML, Markdown inline syntax, backslash escapes,
# GFM tables and strikethrough, math ($), emoji (:name:), the linkifier's "x.com", "a@b" and "http:",
# and "_" at a word's edge (emphasis; "batch_size" stays as typed).
_MARKUP = re.compile(r"""[&<>"'`*\[\]\\~$|{}!:.@]|(?<![^\W_])_|_(?![^\W_])""")
_LINE_BREAK = re.compile(r"\r\n|\r|\n")
_ORDERED_ITEM = re.compile(r"(\d{1,9})\)")  # "1)" opens a list ("1." too, but "." is escaped anyway)


def _reference(char: str) -> str:
    return f"&#{ord(char)};"


def _escape_line(line: str) -> str:
    body = line.lstrip()
    lead = line[: len(line) - len(body)]
    if body and not body[0].isalnum():  # no heading, list, quote, table row or fence can start the line
        lead, body = lead + body[0], body[1:]
    body = _MARKUP.sub(lambda match: _reference(match.group()), body)
    if item := _ORDERED_ITEM.match(body):
        body = f"{item[1]}&#41;{body[item.end() :]}"
    return "".join(map(_reference, lead)) + body


def escape_text(text: object) -> str:
    """`text` as a Markdown/HTML fragment that shows it literally, line breaks included (as <br>).

    Safe in Markdown and Alert panes, HTML panes (also inside <pre>) and toasts. Leading spaces
    (an indented code block), a first character that is not a letter or digit and the ")" of "1)"
    are escaped too, so no line can open a block.
    """
    return "<br>".join(_escape_line(line) for line in _LINE_BREAK.split("" if text is None else str(text)))


def code_text(text: object) -> str:
    """`text` set in the code font (e.g. a path or a command inside a sentence), still literal."""
    return f"<code>{escape_text(text)}</code>"


def preformatted(text: object) -> str:
    """A block of text (a command, a traceback) in a <pre> for an HTML pane; nothing in it can close it early."""
    return f'<pre style="white-space: pre-wrap; overflow-wrap: anywhere">{escape_text(text)}</pre>'


# Tabulator writes column titles with innerHTML unless a title formatter is set; "plaintext" escapes.
_TEXT_TITLES = {"columnDefaults": {"titleFormatter": "plaintext"}}


def text_table(value: pd.DataFrame | None = None, **params) -> pn.widgets.Tabulator:
    """A Tabulator whose column titles show as text, whatever columns later values bring (a CSV's header)."""
    return pn.widgets.Tabulator(pd.DataFrame() if value is None else value, configuration=_TEXT_TITLES, **params)
