"""Human-readable tables from a :class:`~analysis.engine.StudyResult`.

Tables are built as small :class:`Table` values (a frame of already formatted text, a title,
notes) and rendered at the very end to Markdown, HTML (great_tables) or LaTeX, so every
format shows the same digits. Formatting conventions:

* returns, CARs, BHARs: percent with two decimals and a sign (``+3.78%``);
* significance stars on CARs: ``***`` p < 0.01, ``**`` p < 0.05, ``*`` p < 0.10;
* t statistics two decimals; p-values three decimals (``<0.001`` below);
* dollars compact (``$98.6bn``, ``-$1.2bn``, ``$850.0m``).

Human tables show at most ``MAX_EVENT_ROWS`` event rows; the Parquet/CSV files hold all.
"""

from __future__ import annotations

import html
import math
from collections.abc import Callable
from dataclasses import dataclass

import polars as pl

from analysis import schema as S
from analysis.engine import STATUS, StudyResult
from analysis.inference import CROSS_SECTIONAL_T, TEST_NAMES, TESTS
from analysis.regression import ESTIMATE, REGRESSION, STD_ERROR, TERM
from analysis.specs import Window

MAX_EVENT_ROWS = 200


def pct(x: float | None) -> str:
    return "" if x is None or math.isnan(x) else f"{x * 100:+.2f}%"


def num(x: float | None, digits: int = 2) -> str:
    return "" if x is None or math.isnan(x) else f"{x:.{digits}f}"


def signed(x: float | None) -> str:
    return "" if x is None or math.isnan(x) else f"{x:+.2f}"


def pvalue(p: float | None) -> str:
    if p is None or math.isnan(p):
        return ""
    return "<0.001" if p < 0.001 else f"{p:.3f}"


def stars(p: float | None) -> str:
    if p is None or math.isnan(p):
        return ""
    return "***" if p < 0.01 else "**" if p < 0.05 else "*" if p < 0.10 else ""


def dollars(x: float | None) -> str:
    if x is None or math.isnan(x):
        return ""
    sign, a = ("-" if x < 0 else ""), abs(x)
    for scale, unit in ((1e12, "tn"), (1e9, "bn"), (1e6, "m")):
        if a >= scale:
            return f"{sign}${a / scale:.1f}{unit}"
    return f"{sign}${a:,.0f}"


@dataclass(frozen=True)
class Table:
    """A rendered-later table: ``frame`` holds display text only, columns in display order."""

    key: str
    title: str
    frame: pl.DataFrame
    notes: tuple[str, ...] = ()


def _fmt(frame: pl.DataFrame, formats: dict[str, Callable[[float | None], str]]) -> pl.DataFrame:
    return frame.with_columns(
        pl.col(c).map_elements(f, return_dtype=pl.String, skip_nulls=False) for c, f in formats.items()
    ).with_columns(pl.all().cast(pl.String).fill_null(""))


def _limit(frame: pl.DataFrame, notes: list[str]) -> pl.DataFrame:
    keys = frame.select(S.EVENT_ID, S.TICKER).unique(maintain_order=True)
    if keys.height <= MAX_EVENT_ROWS:
        return frame
    notes.append(f"First {MAX_EVENT_ROWS} of {keys.height} event rows; the Parquet/CSV files hold all.")
    return frame.join(keys.head(MAX_EVENT_ROWS), on=[S.EVENT_ID, S.TICKER], how="semi")


def summary_table(result: StudyResult) -> Table:
    """One row per event x ticker: day 0, CAR per window with stars and t, dollar values."""
    notes = [
        "CAR: cumulative abnormal return over the window (event days, sessions relative to day 0); "
        "t from the prediction-error variance (MacKinlay 1997); *** p<0.01, ** p<0.05, * p<0.10.",
        "$ abnormal = CAR x market cap at the close of day -1; $ raw = the whole price move x market cap.",
    ]
    car = _limit(result.car, notes)
    first = result.spec.windows[0]
    wide = result.events.select(S.EVENT_ID, S.TICKER, S.ROLE, S.DAY0, S.MARKET_CAP)
    for w in result.spec.windows:
        part = car.filter((pl.col(S.WINDOW_START) == w.start) & (pl.col(S.WINDOW_END) == w.end))
        cols = [
            pl.struct(S.CAR, S.P_VALUE).map_elements(
                lambda s: f"{pct(s[S.CAR])}{stars(s[S.P_VALUE])}", return_dtype=pl.String
            ).alias(f"CAR {w.label}"),
            pl.col(S.T_STAT).map_elements(num, return_dtype=pl.String).alias(f"t {w.label}"),
        ]
        if w == first:
            cols += [
                pl.col(S.DOLLAR_ABNORMAL).map_elements(dollars, return_dtype=pl.String).alias(f"$ abnormal {w.label}"),
                pl.col(S.DOLLAR_RAW).map_elements(dollars, return_dtype=pl.String).alias(f"$ raw {w.label}"),
            ]
        wide = wide.join(part.select(S.EVENT_ID, S.TICKER, *cols), on=[S.EVENT_ID, S.TICKER], how="inner", maintain_order="left")
    frame = _fmt(wide, {S.MARKET_CAP: dollars}).rename(
        {S.EVENT_ID: "event", S.TICKER: "ticker", S.ROLE: "role", S.DAY0: "day 0", S.MARKET_CAP: "market cap (day -1)"}
    )
    return Table("summary", "Reaction per event: cumulative abnormal returns and dollar value", frame, tuple(notes))


def abnormal_returns_table(result: StudyResult) -> Table:
    notes: list[str] = ["AR = return - normal return of the model; t = AR / prediction-error s.e."]
    ar = _limit(result.abnormal_returns, notes)
    frame = _fmt(
        ar.select(S.EVENT_ID, S.TICKER, S.DATE, S.EVENT_DAY, S.RET, S.BENCHMARK_RET, S.NORMAL_RET, S.ABNORMAL_RET, S.AR_T, S.AR_P, S.CUM_ABNORMAL_RET),
        {S.RET: pct, S.BENCHMARK_RET: pct, S.NORMAL_RET: pct, S.ABNORMAL_RET: pct, S.AR_T: num, S.AR_P: pvalue, S.CUM_ABNORMAL_RET: pct},
    ).rename({S.EVENT_DAY: "day", S.RET: "return", S.BENCHMARK_RET: "benchmark", S.NORMAL_RET: "normal",
              S.ABNORMAL_RET: "AR", S.AR_T: "t", S.AR_P: "p", S.CUM_ABNORMAL_RET: "CAR to date", S.EVENT_ID: "event"})
    return Table("abnormal_returns", "Daily abnormal returns around day 0", frame, tuple(notes))


def car_table(result: StudyResult) -> Table:
    notes: list[str] = [
        "BHAR: buy-and-hold abnormal return (Barber & Lyon 1997); days: window days with an abnormal return.",
        "AV: mean abnormal log volume over the window, ln(1 + volume) minus its estimation-window mean "
        "(+0.69 = twice the normal volume), with its t (Campbell & Wasley 1996).",
    ]
    car = _limit(result.car, notes)
    frame = _fmt(
        car.with_columns(
            pl.struct(S.WINDOW_START, S.WINDOW_END).map_elements(
                lambda s: Window(s[S.WINDOW_START], s[S.WINDOW_END]).label, return_dtype=pl.String
            ).alias("window")
        ).select(S.EVENT_ID, S.TICKER, "window", S.N_DAYS, S.CAR, S.CAR_SE, S.T_STAT, S.P_VALUE, S.BHAR, S.RAW_RETURN,
                 S.DOLLAR_ABNORMAL, S.DOLLAR_RAW, S.ABNORMAL_VOLUME, S.ABNORMAL_VOLUME_T, S.REASON),
        {S.CAR: pct, S.CAR_SE: pct, S.T_STAT: num, S.P_VALUE: pvalue, S.BHAR: pct, S.RAW_RETURN: pct,
         S.DOLLAR_ABNORMAL: dollars, S.DOLLAR_RAW: dollars, S.ABNORMAL_VOLUME: signed, S.ABNORMAL_VOLUME_T: num},
    ).rename({S.EVENT_ID: "event", S.N_DAYS: "days", S.CAR: "CAR", S.CAR_SE: "s.e.", S.T_STAT: "t", S.P_VALUE: "p",
              S.BHAR: "BHAR", S.RAW_RETURN: "raw return", S.DOLLAR_ABNORMAL: "$ abnormal", S.DOLLAR_RAW: "$ raw",
              S.ABNORMAL_VOLUME: "AV", S.ABNORMAL_VOLUME_T: "t(AV)", S.REASON: "note"})
    return Table("car", "Cumulative abnormal returns per window", frame, tuple(notes))


def models_table(result: StudyResult) -> Table:
    spec = result.spec
    notes: list[str] = [f"Normal-return model: {spec.model}, estimation window {spec.estimation.label}."]
    if spec.risk_free:
        notes.append(f"Regression on excess returns over the risk-free rate rf of the factor set {spec.risk_free}; "
                     "beta is the loading on the market (mkt_rf, or the benchmark's excess return for capm).")
    m = _limit(result.models, notes)
    loadings = [c for c in m.columns if c.startswith(S.LOADING_PREFIX)]
    frame = _fmt(
        m.select(S.EVENT_ID, S.TICKER, S.MODEL, S.ALPHA, S.BETA, *loadings, S.SIGMA, S.R_SQUARED, S.N_OBS,
                 S.ESTIMATION_START, S.ESTIMATION_END, S.REASON),
        {S.ALPHA: lambda x: num(x, 5), S.SIGMA: pct, S.R_SQUARED: lambda x: num(x, 3)}
        | {c: (lambda x: num(x, 3)) for c in (S.BETA, *loadings)},
    ).rename({S.EVENT_ID: "event", S.SIGMA: "sigma (daily)", S.R_SQUARED: "R2", S.N_OBS: "T",
              S.ESTIMATION_START: "from", S.ESTIMATION_END: "to", S.REASON: "note"})
    return Table("models", "Normal-return models (estimation window)", frame, tuple(notes))


def window_label(start: int, end: int) -> str:
    """``day -1`` for a one-day window, ``[-1,+1]`` otherwise."""
    return f"day {start}" if start == end else Window(start, end).label


def tests_table(result: StudyResult) -> Table:
    """Every test of every group on one table: a row per group and reported day (the AAR),
    then per window (the CAAR); a column per test holding ``statistic (p-value)``."""
    tests = result.tests
    keys = [S.GROUP, S.WINDOW_START, S.WINDOW_END]
    cell = pl.struct(S.STATISTIC, S.P_VALUE).map_elements(
        lambda s: "n/a" if s[S.STATISTIC] is None else f"{num(s[S.STATISTIC])} ({pvalue(s[S.P_VALUE])})",
        return_dtype=pl.String,
    )
    labels = {t.name: t.label for t in TESTS}
    multi = [w for w in result.spec.windows if w.length > 1]  # after the days, in the study's order
    order = pl.DataFrame(
        {S.WINDOW_START: [w.start for w in multi], S.WINDOW_END: [w.end for w in multi],
         "_multi": [True] * len(multi), "_order": list(range(len(multi)))},
        schema={S.WINDOW_START: pl.Int32, S.WINDOW_END: pl.Int32, "_multi": pl.Boolean, "_order": pl.Int64},
    )
    head = (
        tests.group_by(keys, maintain_order=True)
        .agg(
            pl.col(S.N_EVENTS).max().alias("N"),
            pl.col(S.MEAN).filter(pl.col(S.TEST) == CROSS_SECTIONAL_T).first().alias("mean"),
        )
        .join(order, on=[S.WINDOW_START, S.WINDOW_END], how="left")
        .with_columns(pl.col("_multi").fill_null(False))
        .sort(S.GROUP, "_multi", "_order", S.WINDOW_START)
    )
    wide = head
    for name in TEST_NAMES:
        part = tests.filter(pl.col(S.TEST) == name).select(*keys, cell.alias(labels[name]))
        wide = wide.join(part, on=keys, how="left", maintain_order="left")
    frame = _fmt(
        wide.with_columns(
            pl.struct(S.WINDOW_START, S.WINDOW_END).map_elements(
                lambda s: window_label(s[S.WINDOW_START], s[S.WINDOW_END]), return_dtype=pl.String
            ).alias("window")
        ).select(S.GROUP, "window", "N", "mean", *labels.values()),
        {"mean": pct},
    ).rename({"mean": "AAR / CAAR"})
    notes = [
        "Primary tickers only; related (spillover) tickers are not pooled. Day rows test the average abnormal "
        "return (AAR) of that event day, window rows the cumulative average (CAAR). Cells: statistic (two-sided p).",
        "Parametric: CS t cross-sectional t; BW CDA t Brown-Warner (1985) crude dependence adjustment; Patell (1976) Z; "
        "BMP t Boehmer-Musumeci-Poulsen (1991); KP adj. BMP t Kolari-Pynnonen (2010), same-date cross-correlation; "
        "J1 MacKinlay (1997). Non-parametric: Sign Z (exact binomial p); Gen. sign Z Cowan (1992); Rank Z Corrado (1989); "
        "CZ sign Z Corrado-Zivney (1992); Wilcoxon signed-rank z; GRANK t Kolari-Pynnonen (2011).",
    ]
    missing = (
        tests.filter(pl.col(S.REASON).is_not_null())
        .group_by(S.TEST, S.REASON)
        .agg(pl.col(S.GROUP).unique().sort())
        .sort(pl.col(S.TEST).cast(pl.Enum(TEST_NAMES)), S.REASON)
    )
    for r in missing.iter_rows(named=True):
        notes.append(f"n/a {labels[r[S.TEST]]}: {r[S.REASON]} (group {', '.join(r[S.GROUP])}).")
    return Table("tests", "Tests across the events of each group", frame, tuple(notes))


def regressions_table(result: StudyResult) -> Table:
    notes = ["market_model: R = a + b Rm on the estimation window; event_dummies: R = a + b Rm + sum_k g_k D_k "
             "over the estimation window and event days, so g_k = AR_k (statsmodels OLS)."]
    frame = _fmt(
        result.regressions.filter(pl.col(S.EVENT_ID).is_not_null()).select(S.EVENT_ID, S.TICKER, REGRESSION, TERM, ESTIMATE, STD_ERROR, S.T_STAT, S.P_VALUE, S.N_OBS, S.R_SQUARED),
        {ESTIMATE: lambda x: num(x, 5), STD_ERROR: lambda x: num(x, 5), S.T_STAT: num, S.P_VALUE: pvalue, S.R_SQUARED: lambda x: num(x, 3)},
    ).rename({S.EVENT_ID: "event", STD_ERROR: "s.e.", S.T_STAT: "t", S.P_VALUE: "p", S.N_OBS: "n", S.R_SQUARED: "R2"})
    return Table("regressions", "Per-event regressions (statsmodels OLS)", frame, tuple(notes))


def events_table(result: StudyResult) -> Table:
    frame = _fmt(
        result.events.select(S.EVENT_ID, S.TICKER, S.ROLE, S.GROUP, S.ANNOUNCED, S.TIMING, S.DAY0, S.DAY0_RULE, S.N_OBS, STATUS, S.REASON),
        {},
    ).rename({S.EVENT_ID: "event", S.DAY0: "day 0", S.DAY0_RULE: "day 0 rule", S.N_OBS: "T", S.REASON: "note"})
    return Table("events", "Events, day 0 and status", frame,
                 ("status: ok; flagged (a result with a caveat); skipped (no result, see note).",))


def all_tables(result: StudyResult) -> list[Table]:
    return [
        summary_table(result), events_table(result), car_table(result), abnormal_returns_table(result),
        models_table(result), tests_table(result), regressions_table(result),
    ]


# --- rendering ---------------------------------------------------------------------


def _md_cell(text: str) -> str:
    return html.escape(text, quote=False).replace("|", "\\|").replace("\n", " ").replace("*", "\\*")


def to_markdown(table: Table, *, heading: str = "##") -> str:
    cols = table.frame.columns
    lines = [f"{heading} {_md_cell(table.title)}", "", "| " + " | ".join(_md_cell(c) for c in cols) + " |",
             "|" + "|".join("---" for _ in cols) + "|"]
    lines += ["| " + " | ".join(_md_cell(v) for v in row) + " |" for row in table.frame.iter_rows()]
    if not table.frame.height:
        lines.append("| " + " | ".join("" for _ in cols) + " |")
    lines += [""] + [f"*{_md_cell(n)}*" for n in table.notes]
    return "\n".join(lines) + "\n"


def _gt(table: Table):
    from great_tables import GT

    g = GT(table.frame).tab_header(title=table.title)
    for note in table.notes:
        g = g.tab_source_note(note)
    return g


def to_html(table: Table) -> str:
    """A standalone-embeddable HTML table (great_tables; cell text is escaped)."""
    return _gt(table).as_raw_html()


def to_latex(table: Table) -> str:
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # "Styles are not yet supported in LaTeX output."
        return _gt(table).as_latex()


def headline(result: StudyResult) -> str:
    """One sentence per primary event row on its first window, e.g.
    ``AMZN (amzn-openai-aws-2025): +3.78% abnormal on 2025-11-03, t = 2.76, p = 0.006, worth $98.6bn.``"""
    w = result.spec.windows[0]
    rows = (
        result.car.filter(
            (pl.col(S.ROLE) == "primary") & (pl.col(S.WINDOW_START) == w.start) & (pl.col(S.WINDOW_END) == w.end)
            & pl.col(S.CAR).is_not_null()
        )
        .join(result.events.select(S.EVENT_ID, S.TICKER, S.DAY0), on=[S.EVENT_ID, S.TICKER], how="left")
        .head(5)
    )
    span = "on" if w.length == 1 else f"over {w.label} around"
    parts = [
        f"{r[S.TICKER]} ({r[S.EVENT_ID]}): {pct(r[S.CAR])} abnormal {span} {r[S.DAY0]}, "
        f"t = {num(r[S.T_STAT])}, p {'< 0.001' if r[S.P_VALUE] < 0.001 else '= ' + pvalue(r[S.P_VALUE])}"
        + (f", worth {dollars(r[S.DOLLAR_ABNORMAL])}" if r[S.DOLLAR_ABNORMAL] is not None else "")
        + "."
        for r in rows.iter_rows(named=True)
    ]
    return " ".join(parts)
