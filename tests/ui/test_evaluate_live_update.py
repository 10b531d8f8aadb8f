"""The Evaluate page's live update when an evaluation ends, the way the browser has it: the page drawn in
the app's template (its design gives the drawn Bokeh figures stylesheets), then the poller's tick finds
the job finished and shows the new report. Also: the poller logs a failing tick's traceback."""

from __future__ import annotations

import logging
import sys
from pathlib import Path

import panel as pn
from bokeh.document import Document
from panel.io.state import set_curdoc
from test_evaluate_state import text_report, write_report
from ui_helpers import make_session

sys.path.insert(0, str(Path(__file__).parents[1] / "serve"))

from tiny_runs import untrained_run

from ui.views.evaluate import EvaluatePage
from ui.views.poller import Poller


class FinishedJob:
    """What BackgroundCommand looks like once `python -m gemma_jax.evaluate` exited well."""

    done, returncode, output, errors, lines = True, 0, [], [], []


def errors(session) -> list[str]:
    return [message for _time, level, message in session.notifications if level == "error"]


def test_a_finished_evaluation_shows_its_report_live(tmp_path):
    session = make_session(tmp_path)
    run_dir = untrained_run(tmp_path, run_id="fresh", runs_dir=session.workspace.runs_dir)
    page = EvaluatePage(session)
    assert not page.state.reports and page.compare.plot.object is None  # nothing to compare yet
    doc = Document()
    with set_curdoc(doc):
        pn.template.FastListTemplate(main=[page]).server_doc(doc)  # drawn as the app draws it
        page.state._job, page.state.running = FinishedJob(), True  # "Run evaluation" was clicked
        write_report(run_dir, *text_report())  # ... and the evaluation wrote its report
        page.poller._safely()  # the periodic callback's tick
    assert errors(session) == []
    assert any("Evaluation of fresh finished" in message for _t, _l, message in session.notifications)
    assert not page.state.running and page.state.report is not None
    assert "gj-metric-card" in page.summary.object and page.table.visible
    assert page.compare.plot_box.visible and page.compare.plot.object is not None


def test_a_failing_tick_is_logged_with_its_traceback_once(tmp_path, caplog):
    session = make_session(tmp_path)

    def tick():
        raise TypeError("broken")

    poller = Poller(tick, 500, session, "Evaluate")
    with caplog.at_level(logging.ERROR, logger="ui.views.poller"):
        poller._safely()
        poller._safely()  # the same failure again: neither a second message nor a second traceback
    assert errors(session) == ["Live updates of the Evaluate page failed: TypeError: broken"]
    (record,) = caplog.records
    assert record.exc_info is not None and record.exc_info[0] is TypeError
    assert "Evaluate" in record.getMessage() and 'raise TypeError("broken")' in caplog.text
