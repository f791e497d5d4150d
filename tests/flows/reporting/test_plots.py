"""The plots that explain: the CAR plot marks each confounder's day and the event windows and
says what its band is, the move plot splits the day-0 move in dollars as the frames do, and
both read at 1400 px and on a phone. The reference case: AMZN's Q3 earnings on day -1 of the
AWS-OpenAI deal, on the shared real prices."""

from __future__ import annotations

import dataclasses
import errno
import shutil
import signal
import struct
import xml.etree.ElementTree as ET
from pathlib import Path

import polars as pl
import pytest

from analysis import schema as S
from analysis.catalog import parse_catalog_toml
from analysis.formats import dollars
from flows.reporting.figures import save_figures
from flows.reporting.flagship import group_briefs
from flows.reporting.plots import (
    MAX_EVENT_PLOTS, MOVE_WIDTH, WIDTH, event_figure, event_figures, group_figures, move_figure, moved_events,
)
from flows.reporting.markup import PAGE_CSS
from tests.flows.reporting.test_flagship import AWS, CATALOG, GROUP, study

SVG = "{http://www.w3.org/2000/svg}"


@pytest.fixture(scope="module")
def amzn(shared_data, tmp_path_factory):
    """The shipped catalog on the shared prices, and its plots."""
    res = study(parse_catalog_toml(CATALOG.read_text(encoding="utf-8"), "events.toml"), shared_data)
    folder = tmp_path_factory.mktemp("plots")
    return res, folder, save_figures(event_figures(res) + group_figures(res), folder)


def svg_texts(path) -> tuple[ET.Element, list[str]]:
    root = ET.parse(path).getroot()
    return root, ["".join(t.itertext()) for t in root.iter(f"{SVG}text")]


def by_id(root: ET.Element, gid: str) -> ET.Element | None:
    return next((e for e in root.iter() if e.get("id") == gid), None)


def test_amzn_car_plot_marks_the_earnings_day_the_windows_and_the_band(amzn):
    res, folder, _ = amzn
    root, texts = svg_texts(folder / f"car-{AWS}.svg")
    assert by_id(root, "confounder-amzn-q3-2025-earnings") is not None  # the line on day -1 ...
    assert {"amzn-q3-2025-earnings", "AMZN, day -1"} <= set(texts)  # ... with its label
    assert {"msft-openai-recap", "MSFT, day -4"} <= set(texts)  # a related ticker's confounder too
    line = next(a for a in event_figure(res, AWS).axes[0].lines if a.get_gid() == "confounder-amzn-q3-2025-earnings")
    assert list(line.get_xdata()) == [-1, -1]
    for k, w in enumerate(res.spec.windows):  # the event windows: a bar each, labelled
        assert by_id(root, f"window-{k}") is not None and w.label in texts
    assert any(t.startswith("95% band: CAR ± 1.96 s.e.") for t in texts)
    # the group's CAAR plot marks it too (AMZN is a primary ticker of the group)
    root, texts = svg_texts(folder / f"caar-{GROUP}.svg")
    assert by_id(root, "confounder-amzn-q3-2025-earnings") is not None and "AMZN, day -1" in texts
    assert any(t.startswith("95% band: CAAR ± 1.96 s/√N") for t in texts)


def test_move_bars_equal_the_frames(amzn):
    res, folder, written = amzn
    keys = [S.EVENT_ID, S.TICKER]
    day0 = res.abnormal_returns.filter((pl.col(S.EVENT_DAY) == 0) & (pl.col(S.EVENT_ID) == AWS) & (pl.col(S.TICKER) == "AMZN"))
    cap = res.events.filter((pl.col(S.EVENT_ID) == AWS) & (pl.col(S.TICKER) == "AMZN"))[S.MARKET_CAP].item()
    ret, normal, ar = (day0[c].item() for c in (S.RET, S.NORMAL_RET, S.ABNORMAL_RET))
    # the abnormal dollars as car.parquet has them: CAR[0,0] x market cap
    car00 = res.car.filter((pl.col(S.WINDOW_START) == 0) & (pl.col(S.WINDOW_END) == 0)).join(day0.select(keys), on=keys)
    assert car00[S.DOLLAR_ABNORMAL].item() == pytest.approx(ar * cap, rel=1e-12)
    fig = move_figure(res, AWS)
    bars = {p.get_gid(): p for p in fig.axes[0].patches}
    expected = {"normal": (0.0, normal * cap), "abnormal": (normal * cap, ar * cap), "move": (0.0, ret * cap)}
    for part, (bottom, height) in expected.items():
        bar = bars[f"move-amzn-{part}"]
        assert (bar.get_y(), bar.get_height()) == pytest.approx((bottom, height), rel=1e-12)
    assert normal * cap + ar * cap == pytest.approx(ret * cap, rel=1e-12)  # the waterfall closes
    claim = next(a for a in fig.axes[0].lines if a.get_gid() == "claim-amzn")
    assert list(claim.get_ydata()) == [140e9]  # "added about $140bn in market value"
    _, texts = svg_texts(folder / f"move-{AWS}.svg")
    assert {dollars(ar * cap, "bn", signed=True), dollars(ret * cap, "bn", signed=True), "claimed: $140.0bn"} <= set(texts)
    assert dollars(ar * cap, "bn", signed=True) == "+$98.6bn"
    names = [p.name for p in written]  # each event's move plot right after its CAR plot
    assert names.index(f"move-{AWS}.png") == names.index(f"car-{AWS}.svg") + 1
    # an event without a market cap (ORCL has no prices) has none
    assert "orcl-openai-300b-report" not in moved_events(res) and move_figure(res, "orcl-openai-300b-report") is None


def png_size(path) -> tuple[int, int]:
    return struct.unpack(">II", path.read_bytes()[16:24])


def test_plot_sizes_read_at_1400_px_and_on_a_phone(amzn):
    _, folder, written = amzn
    assert png_size(folder / f"car-{AWS}.png")[0] == WIDTH * 100 and png_size(folder / f"move-{AWS}.png")[0] == MOVE_WIDTH * 100
    for path in (p for p in written if p.suffix == ".svg"):
        root = ET.parse(path).getroot()
        width = float(root.get("width").removesuffix("pt"))
        assert root.get("viewBox") and min(abs(width - w * 72) for w in (WIDTH, MOVE_WIDTH)) < 0.01, path.name  # scales
        sizes = [float(s.split("font-size:")[1].split("px")[0]) for t in root.iter(f"{SVG}text")
                 if "font-size:" in (s := t.get("style", ""))]
        # text at least 1/42 of the width: 8 px on a 390 px phone (342 px of page), 13 px at 36em
        assert sizes and min(sizes) >= 9 and width / min(sizes) <= 42, path.name
    # the pages show them 36em (CAR) and 28em (move) wide, never wider than the screen
    assert "width:36em;max-width:100%" in PAGE_CSS and "figure.move{width:28em}" in PAGE_CSS
    assert "figure img{width:100%" in PAGE_CSS


def test_brief_shows_each_move_beside_its_car_plot(amzn):
    res, *_ = amzn
    brief = next(b for b in group_briefs(res) if b.group == GROUP)
    car, move = f'src="plots/car-{AWS}.svg"', f'<figure class="move"><img src="plots/move-{AWS}.svg"'
    assert car in brief.html and move in brief.html
    assert brief.html.index(move) - brief.html.index(car) < 300  # the next figure
    assert f"![move-{AWS}](plots/move-{AWS}.png)" in brief.markdown


def test_at_most_the_first_events_are_plotted(amzn, tmp_path):
    """A study of many events draws the first MAX_EVENT_PLOTS CAR and move plots, no more."""
    res, *_ = amzn
    n = MAX_EVENT_PLOTS + 3
    copies = lambda frame: pl.concat([  # noqa: E731
        frame.filter(pl.col(S.EVENT_ID) == AWS).with_columns(pl.lit(f"e{i:02d}").alias(S.EVENT_ID)) for i in range(n)
    ])
    many = dataclasses.replace(res, paths=copies(res.paths), events=copies(res.events),
                               abnormal_returns=copies(res.abnormal_returns), confounders=copies(res.confounders))
    names = sorted(p.name for p in save_figures(event_figures(many), tmp_path))
    assert len(names) == 2 * 2 * MAX_EVENT_PLOTS and names[-1] == f"move-e{MAX_EVENT_PLOTS - 1:02d}.svg"
    assert moved_events(many) == [f"e{i:02d}" for i in range(MAX_EVENT_PLOTS)]


def test_group_caar_table_flags_windows_holding_a_confounders_day(amzn):
    """The brief's CAAR [-1,+1] of the group counts AMZN's earnings day (day -1 of the AWS deal):
    the window is flagged and a footnote names the day."""
    res, *_ = amzn
    md = next(b for b in group_briefs(res) if b.group == GROUP).markdown
    table = md.split("## The events")[0]
    assert "| [0,0] |" in table and "| [-1,+1] † |" in table and "| [-5,+5] † |" in table
    assert ("† [-1,+1], [-5,+5] include day -1 of amzn-openai-aws-2025 (AMZN), the day 0 of amzn-q3-2025-earnings: "
            "its AR that day, +9.23%, is in the CAAR.") in table


# --- saving many figures in a process of their own ---------------------------------------------


@pytest.fixture(scope="module")
def demo_figures():
    """The figures of the simulated market's four events and their group (nine: above OWN_PROCESS)."""
    from analysis.calendar import exchange_calendar
    from analysis.engine import run_study
    from analysis.specs import StudySpec, events_frame
    from flows.devtools.market import DEMO_EVENTS, simulate_market
    from flows.reporting.plots import event_figures, group_figures

    cal = exchange_calendar()
    market = simulate_market(cal, events=DEMO_EVENTS)
    res = run_study(events_frame(market.events), market.prices, StudySpec(), cal, market.shares)
    return event_figures(res) + group_figures(res)


def test_figures_saved_in_their_own_process_are_the_bytes_saved_here(demo_figures, tmp_path):
    from flows.reporting.figures import OWN_PROCESS, save_figures, saving_figures

    assert len(demo_figures) >= OWN_PROCESS
    here = save_figures(demo_figures, tmp_path / "here")
    with saving_figures(demo_figures, tmp_path / "there") as there:
        assert [p.name for p in there] == [p.name for p in here]  # the names at once
    assert [p.read_bytes() for p in there] == [p.read_bytes() for p in here]
    with saving_figures(demo_figures[:2], tmp_path / "few") as few:  # a few: saved here, after the block
        assert not (tmp_path / "few").exists()
    assert [p.read_bytes() for p in few] == [p.read_bytes() for p in here[:4]]


def test_the_saving_process_says_which_file_it_could_not_write(demo_figures, tmp_path):
    from flows.reporting.figures import saving_figures

    folder = tmp_path / "plots"
    with pytest.raises(OSError, match="plots") as raised:
        with saving_figures(demo_figures, folder):
            shutil.rmtree(folder)
            folder.write_text("a file where the folder was")
    assert raised.value.errno in (errno.ENOTDIR, errno.ENOENT) and str(folder) in raised.value.filename


def test_an_error_of_the_caller_stops_the_saving_process(demo_figures, tmp_path):
    from flows.reporting import figures

    started = []
    real = figures.subprocess.Popen
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(figures.subprocess, "Popen", lambda *a, **k: started.append(real(*a, **k)) or started[-1])
        with pytest.raises(KeyboardInterrupt), figures.saving_figures(demo_figures, tmp_path / "plots"):
            raise KeyboardInterrupt
    (proc,) = started
    assert proc.poll() == -signal.SIGKILL  # killed and reaped, not left running


def test_a_warmed_up_saving_process_is_the_one_used_and_an_unused_one_is_stopped(demo_figures, tmp_path):
    from flows.reporting import figures

    figures.warm_up()
    (ready,) = figures._READY
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(figures, "_saver", lambda: pytest.fail("a second saving process"))
        with figures.saving_figures(demo_figures, tmp_path / "plots") as paths:
            pass
    assert ready.returncode == 0 and figures._READY == [] and all(p.stat().st_size for p in paths)
    figures.warm_up()
    (unused,) = figures._READY
    figures._stop_unused()  # at exit
    assert unused.returncode == -signal.SIGKILL and figures._READY == []


def test_a_saving_process_that_fails_on_its_own_is_an_error_with_what_it_said(demo_figures, tmp_path):
    import subprocess
    import sys
    import tempfile

    from flows.reporting import figures

    def broken():
        log = tempfile.TemporaryFile()
        proc = subprocess.Popen([sys.executable, "-c", "import sys; sys.stderr.write('no matplotlib here'); sys.exit(3)"],
                                stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=log)
        proc.log = log
        return proc

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(figures, "_saver", broken)
        with pytest.raises(RuntimeError, match="saving the plots in .*: no matplotlib here"):
            with figures.saving_figures(demo_figures, tmp_path / "plots"):
                pass


def test_a_saving_process_dies_with_its_run(tmp_path):
    """A run killed (SIGKILL: no atexit) while its warmed-up saving process waits: that process
    goes too (``PR_SET_PDEATHSIG``; waiting, the end of its stdin would end it as well), though
    it is in a process group of its own, out of reach of a terminal's Ctrl-C."""
    import os
    import subprocess
    import sys
    import time

    from tests.conftest import REPO_ROOT

    run = subprocess.Popen(
        [sys.executable, "-c", "from flows.reporting import figures; figures.warm_up(); "
         "print(figures._READY[0].pid, flush=True); import time; time.sleep(60)"],
        stdout=subprocess.PIPE, text=True, env={**os.environ, "PYTHONPATH": str(REPO_ROOT)},
    )
    saver = int(run.stdout.readline())
    time.sleep(1.0)  # it has armed the signal (its first steps)
    run.kill()
    run.wait()
    end = time.monotonic() + 10
    while time.monotonic() < end:
        try:
            os.kill(saver, 0)
        except ProcessLookupError:
            return
        try:  # reaped by init; a zombie of ours would still answer
            if Path(f"/proc/{saver}/stat").read_text().split(") ")[1].startswith("Z"):
                return
        except OSError:
            return
        time.sleep(0.05)
    raise AssertionError(f"the saving process {saver} outlived its run")
