"""Progress as a user sees it: a bar on a terminal, a plain line at a steady interval in a log, nothing with --quiet."""

import importlib
import io
import re

import pandas as pd
import pytest
from conftest import sentiment_data
from rich.console import Console

from headstart import progress
from headstart.cli import main

cli_app = importlib.import_module("headstart.cli.app")  # the package's `app` is the typer app


class Clock:
    """A clock the test moves by hand, so no test waits for an interval to pass."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def loud(monkeypatch):
    monkeypatch.setitem(cli_app.state, "quiet", False)


def run(argv, capsys):
    try:
        main([str(a) for a in argv])
        code = 0
    except SystemExit as exc:
        code = exc.code or 0
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_compare_shows_its_runs_however_few_and_nothing_with_quiet(tmp_path, tiny_encoder, capsys):
    texts, labels = sentiment_data(n_per_class=30)
    pd.DataFrame({"text": texts, "label": labels}).to_csv(tmp_path / "d.csv", index=False)
    argv = ["compare", tmp_path / "d.csv", "--strategies", "frozen,tfidf", "--n-per-class", "4", "--seeds", "1"]
    code, _, err = run([*argv, "--encoder", tiny_encoder, "--out", tmp_path / "c"], capsys)
    assert code == 0, err
    assert re.search(r"^compare runs: 2/2 runs, .* elapsed$", err, re.MULTILINE), err
    code, _, err = run([*argv, "--encoder", tiny_encoder, "--out", tmp_path / "q", "--quiet"], capsys)
    assert code == 0 and err == ""


def test_a_redirected_run_logs_a_plain_line_at_each_interval_and_at_the_end(loud, capsys):
    clock = Clock()
    with cli_app.session(clock=clock):
        advance = progress.task("predicting", 1000)
        for _ in range(10):
            clock.now += cli_app.LOG_EVERY_S / 2
            advance(100)
    err = capsys.readouterr().err
    assert "\r" not in err and "\x1b" not in err
    lines = err.splitlines()
    assert len(lines) == 5, err  # every second step crosses an interval; the last step ends the task as well
    assert lines[0].startswith("predicting: 200/1,000 texts, ") and "left" in lines[0]
    assert lines[-1] == f"predicting: 1,000/1,000 texts, 7 texts/s, {'0:02:30'} elapsed"


def test_a_slow_unit_is_logged_as_seconds_each_not_zero_per_second(loud, capsys):
    clock = Clock()
    with cli_app.session(clock=clock):
        advance = progress.task("compare runs", 3, "runs")
        for _ in range(3):
            clock.now += 40
            advance(1)
    assert capsys.readouterr().err.splitlines()[-1] == "compare runs: 3/3 runs, 40.0 s each, 0:02:00 elapsed"


def test_a_few_texts_finish_too_fast_to_show(loud, capsys):
    with cli_app.session(clock=Clock()):
        progress.task("encoding", 10)(10)
    assert capsys.readouterr().err == ""


def test_a_finished_bar_shows_the_time_taken_not_zero_time_left(loud, monkeypatch):
    terminal = io.StringIO()
    monkeypatch.setattr(cli_app, "err", Console(file=terminal, force_terminal=True, width=120, soft_wrap=True))
    clock = Clock()
    with cli_app.session(clock=clock):
        advance = progress.task("encoding", 100)
        clock.now = 90.0
        advance(100)
    last = [line for line in re.split(r"[\r\n]", terminal.getvalue()) if "100/100" in line][-1]
    assert "100/100" in last and "0:01:30" in last and "0:00:00" not in last, last


def test_quiet_shows_no_progress(monkeypatch, capsys):
    monkeypatch.setitem(cli_app.state, "quiet", True)
    clock = Clock()
    with cli_app.session(clock=clock):
        advance = progress.task("predicting", 1000)
        clock.now = 100.0
        advance(1000)
    assert capsys.readouterr().err == ""
