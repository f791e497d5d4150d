"""Cross-sectional and pooled event regressions against sandwich formulas written out with NumPy."""

from __future__ import annotations

from datetime import date

import numpy as np
import polars as pl
import pytest

from analysis import schema as S
from analysis.calendar import exchange_calendar
from analysis.engine import run_study
from analysis.errors import InputError
from analysis.panel import ROW
from analysis.regression import cross_sectional_regressions, pooled_event_regressions
from analysis.specs import EventSpec, StudySpec, Window, events_frame

TOL = dict(rel=1e-10, abs=1e-13)


def hc3(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """OLS coefficients and HC3 standard errors (MacKinnon & White 1985), from the formula."""
    xtx_inv = np.linalg.inv(x.T @ x)
    b = xtx_inv @ x.T @ y
    e = y - x @ b
    h = np.einsum("ij,jk,ik->i", x, xtx_inv, x)
    meat = x.T @ (x * (e**2 / (1 - h) ** 2)[:, None])
    return b, np.sqrt(np.diag(xtx_inv @ meat @ xtx_inv))


def cluster_cov(x: np.ndarray, y: np.ndarray, groups: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """OLS coefficients and the one-way cluster-robust covariance with Stata's small-sample
    factor G/(G−1)·(N−1)/(N−K) (statsmodels' default for cov_type='cluster')."""
    xtx_inv = np.linalg.inv(x.T @ x)
    b = xtx_inv @ x.T @ y
    e = y - x @ b
    meat = np.zeros((x.shape[1], x.shape[1]))
    labels = np.unique(groups)
    for g in labels:
        s = x[groups == g].T @ e[groups == g]
        meat += np.outer(s, s)
    n, k, G = x.shape[0], x.shape[1], len(labels)
    return b, (G / (G - 1)) * ((n - 1) / (n - k)) * xtx_inv @ meat @ xtx_inv


def test_cross_section_matches_hc3_formula():
    rng = np.random.default_rng(7)
    n = 12
    size, lev = rng.normal(size=n), rng.normal(size=n)
    frames = []
    for ws, we in ((0, 0), (-1, 1)):
        car = 0.01 + 0.02 * size - 0.01 * lev + rng.normal(0, 0.01 * (1 + np.abs(size)), n)
        frames.append(pl.DataFrame({S.GROUP: "g", S.WINDOW_START: ws, S.WINDOW_END: we, S.CAR: car, "char.size": size, "char.lev": lev}))
    car = pl.concat(frames).with_columns(pl.col(S.WINDOW_START, S.WINDOW_END).cast(pl.Int32))
    tidy, tables = cross_sectional_regressions(car, ["char.size", "char.lev"])
    for (ws, we), part in car.group_by(S.WINDOW_START, S.WINDOW_END):
        x = np.column_stack([np.ones(n), part["char.size"].to_numpy(), part["char.lev"].to_numpy()])
        b, se = hc3(x, part[S.CAR].to_numpy())
        got = tidy.filter((pl.col(S.WINDOW_START) == ws) & (pl.col(S.WINDOW_END) == we))
        assert got["term"].to_list() == ["const", "size", "lev"]
        np.testing.assert_allclose(got["estimate"].to_numpy(), b, rtol=1e-10)
        np.testing.assert_allclose(got["std_error"].to_numpy(), se, rtol=1e-10)
        assert (got["cov_type"] == "HC3").all() and (got[S.N_OBS] == n).all()
    assert len(tables) == 1 and "CAR [-1,+1]" in tables[0].markdown and "size" in tables[0].html
    assert "\\begin{tabular}" in tables[0].latex
    # the tables in percentage points, as every other table (the tidy frame in decimals)
    size = tidy.filter((pl.col(S.WINDOW_START) == -1) & (pl.col("term") == "size")).row(0, named=True)  # the first column
    row = next(line for line in tables[0].markdown.splitlines() if line.startswith("| size |"))
    assert row.split("|")[2].strip().rstrip("\\*") == f"{100 * size['estimate']:.2f}"
    assert "percentage points" in tables[0].markdown and "percentage points" in tables[0].html
    assert "percentage points" in tables[0].latex and "R-squared" in tables[0].markdown


def test_cross_section_reports_why_it_cannot_fit():
    car = pl.DataFrame({S.GROUP: ["g"] * 4, S.WINDOW_START: [0] * 4, S.WINDOW_END: [0] * 4,
                        S.CAR: [0.01, 0.02, 0.0, 0.03], "char.x": [1.0, 2.0, 3.0, 4.0], "char.k": [1.0] * 4},
                       schema_overrides={S.WINDOW_START: pl.Int32, S.WINDOW_END: pl.Int32})
    tidy, tables = cross_sectional_regressions(car, ["char.x", "char.k"])
    assert tidy.height == 1 and tidy["term"][0] is None and "residual degrees of freedom" in tidy[S.REASON][0]
    wider = pl.concat([car] * 2)
    tidy, _ = cross_sectional_regressions(wider, ["char.x", "char.k"])
    assert "collinear or constant" in tidy[S.REASON][0]
    # user text that is not an identifier never becomes a term
    tidy, tables = cross_sectional_regressions(car.rename({"char.x": "char.<b>x"}), ["char.<b>x"])
    assert tidy.height == 0 and tables == []


def synthetic_panel(n_firms: int = 4, seed: int = 3):
    """Event rows on two dates, returns from a market model with a known day-0 effect."""
    rng = np.random.default_rng(seed)
    spec = StudySpec(estimation=Window(-60, -6), windows=(Window(0, 0), Window(-1, 1)), min_estimation_obs=30)
    days = np.arange(-60, 6)
    rows, cells = [], []
    for i in range(n_firms):
        day0 = 1000 + (i % 2) * 3  # two event dates: dates overlap across firms
        rows.append((i, "g", day0))
        rm = rng.normal(0, 0.01, days.size)
        r = 0.001 * i + (0.8 + 0.1 * i) * rm + rng.normal(0, 0.01, days.size) + np.where(days == 0, 0.03, 0.0)
        cells += [(i, int(d), float(a), float(b)) for d, a, b in zip(days, r, rm)]
    panel = pl.DataFrame(cells, schema={ROW: pl.UInt32, S.EVENT_DAY: pl.Int32, S.RET: pl.Float64, S.BENCHMARK_RET: pl.Float64}, orient="row")
    rows = pl.DataFrame(rows, schema={ROW: pl.UInt32, S.GROUP: pl.String, S.DAY0_SESSION: pl.Int32}, orient="row")
    return panel, rows, spec


def test_pooled_regression_matches_cluster_formula():
    panel, rows, spec = synthetic_panel()
    tidy, tables = pooled_event_regressions(panel, rows, spec, "cluster")
    keep = panel.filter(pl.col(S.EVENT_DAY).is_between(-60, -6) | pl.col(S.EVENT_DAY).is_between(-1, 1)).sort(ROW, S.EVENT_DAY)
    firm, tau = keep[ROW].to_numpy(), keep[S.EVENT_DAY].to_numpy()
    own = (firm[:, None] == np.arange(4)[None, :]).astype(float)
    dummies = (tau[:, None] == np.arange(-1, 2)[None, :]).astype(float)
    x = np.column_stack([own, own * keep[S.BENCHMARK_RET].to_numpy()[:, None], dummies])
    dates = firm * 0 + np.where(firm % 2 == 1, 1003, 1000) + tau
    b, v = cluster_cov(x, keep[S.RET].to_numpy(), dates)
    days = tidy.filter(pl.col("term").str.starts_with("d["))
    assert days["term"].to_list() == ["d[-1]", "d[0]", "d[+1]"]
    np.testing.assert_allclose(days["estimate"].to_numpy(), b[8:], rtol=1e-10)
    np.testing.assert_allclose(days["std_error"].to_numpy(), np.sqrt(np.diag(v)[8:]), rtol=1e-10)
    car = tidy.filter(pl.col("term") == "CAR[-1,+1]").row(0, named=True)
    r = np.zeros(x.shape[1])
    r[8:] = 1
    assert car["estimate"] == pytest.approx(b[8:].sum(), **TOL)
    assert car["std_error"] == pytest.approx(np.sqrt(r @ v @ r), **TOL)
    assert days.filter(pl.col("term") == "d[0]")["estimate"][0] == pytest.approx(0.03, abs=0.01)  # the planted effect
    assert len(tables) == 1 and "d[0]" in tables[0].markdown and "a[0]" not in tables[0].markdown
    row = next(line for line in tables[0].markdown.splitlines() if line.startswith("| d[0] |"))
    assert row.split("|")[2].strip().rstrip("\\*") == f"{100 * b[9]:.2f}"


def test_pooled_regression_hac_and_too_few_rows():
    panel, rows, spec = synthetic_panel()
    tidy, _ = pooled_event_regressions(panel, rows, spec, "hac")
    assert (tidy["cov_type"] == "HAC(firm, 5 lags)").all() and tidy["std_error"].is_not_null().all()
    tidy, tables = pooled_event_regressions(panel, rows.head(1), spec)
    assert tidy.height == 1 and "pooling needs 2 to 50" in tidy[S.REASON][0] and not tables


def test_run_study_carries_characteristics_and_checks_regressor_names():
    cal = exchange_calendar()
    sessions = cal.sessions.filter(pl.col(S.DATE).is_between(date(2023, 1, 3), date(2024, 6, 28)))[S.DATE]
    rng = np.random.default_rng(11)
    frames = []
    tickers = ("AAA", "BBB", "CCC", "DDD", "EEE", "FFF", "GGG", "HHH")
    for t in (*tickers, "^IDX"):
        r = rng.normal(0.0003, 0.012, sessions.len())
        close = 50 * np.cumprod(1 + r)
        frames.append(pl.DataFrame({S.TICKER: t, S.DATE: sessions, S.CLOSE: close, S.ADJ_CLOSE: close}))
    prices = pl.concat(frames)
    events = [
        EventSpec(f"e{i}", (t,), date(2024, 5, 1 + 2 * i), benchmark="^IDX", group="g",
                  extra=(("char.size", float(i)), ("char.deal", float(i * i % 3)), ("char.note", "text")))
        for i, t in enumerate(tickers)
    ]
    frame = events_frame(events)
    assert frame.schema["char.size"] == pl.Float64 and frame.schema["char.note"] == pl.String
    result = run_study(frame, prices, StudySpec(), cal)
    reg = result.regressions
    assert set(reg["regression"]) == {"market_model", "event_dummies", "cross_section", "pooled_dummies"}
    cs = reg.filter(pl.col("regression") == "cross_section")
    assert set(cs["term"].drop_nulls()) == {"const", "size", "deal"}  # numeric characteristics only
    assert {t.key for t in result.regression_tables} == {"cross_section_g", "pooled_g"}
    only = run_study(frame, prices, StudySpec(regressors=("size",)), cal)
    assert set(only.regressions.filter(pl.col("regression") == "cross_section")["term"]) == {"const", "size"}
    with pytest.raises(InputError, match="regressors.*note.*numeric ones: size, deal"):
        run_study(frame, prices, StudySpec(regressors=("note",)), cal)
