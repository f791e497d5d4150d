"""Human-readable tables from a :class:`~analysis.engine.StudyResult`.

Tables are built as small :class:`Table` values (a frame of already formatted text, a title,
notes) and rendered at the very end to Markdown, HTML (:func:`to_html`) or LaTeX
(great_tables), so every format shows the same digits. Formatting conventions:

every number goes through :mod:`analysis.formats` (the one place):

* returns, CARs, BHARs, alphas and the regression estimates of returns: percent with two
  decimals and a sign (``+3.78%``);
* significance stars on CARs: ``***`` p < 0.01, ``**`` p < 0.05, ``*`` p < 0.10;
* t statistics, betas, R² two decimals; p-values three decimals (``<0.001`` below);
* money with ``$`` in one unit per table, chosen by the size of its amounts (``$98.6bn``,
  ``-$1.2bn``, ``$2,610.8bn``; :func:`analysis.formats.money_unit`), changes signed.

Ids and dates never wrap (:data:`NOWRAP`); each table names the data file holding every row
(``data``), which the pages link as CSV.

Human tables cost what a person reads, not what the study computed: up to
:data:`MAX_EVENT_ROWS` event rows they list every row; beyond, they list the event rows that
matter (:func:`shown_rows`: the most significant, the largest dollar reactions, the skipped
and flagged rows with their reasons), :data:`SELECTED_ROWS` of them, with a line saying how
many more the Parquet/CSV files beside the tables hold.
"""

from __future__ import annotations

import html
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import partial

import polars as pl

from analysis import schema as S
from analysis.claims import BASIS
from analysis.confounders import (
    CONFOUNDER_AR0, CONFOUNDER_AR0_P, CONFOUNDER_AR0_T, CONFOUNDER_DOLLARS, EVENT_WINDOW, confounder_effects,
)
from analysis.engine import AR_AT_OFFSET, STATUS, StudyResult
from analysis.inference import CROSS_SECTIONAL_T, TEST_NAMES, TESTS
from analysis.regression import ESTIMATE, REGRESSION, STD_ERROR, TERM, SummaryTable
from analysis.formats import dollars, money_unit, num, offset, pct, pvalue, signed, starred, stat_p
from analysis.specs import Window
from analysis.spillovers import RANK, who_moved
from flows.reporting.markup import HIGHLIGHT_FILL, collapsible, md_text

MAX_EVENT_ROWS = 200
"""Event rows (event x ticker) a human table lists: all up to this many, else a selection of
:data:`SELECTED_ROWS` (:func:`shown_rows`)."""
SELECTED_ROWS = 50
"""Event rows of a selection: a table of some hundred kilobytes whatever the study's size."""
MAX_DAILY_EVENT_ROWS = 10
"""Event rows of a selection whose day-by-day rows (the daily abnormal returns, the per-event
regressions: about 20 rows each) are listed."""
MAX_TEST_GROUPS = 10
"""Event groups on the tests table (a row per reported day and window each); beyond, the
groups with the most events."""


SIGNIFICANT = 0.05  # cells with p below this are highlighted in HTML


@dataclass(frozen=True)
class Table:
    """A rendered-later table.

    Attributes
    ----------
    key
        File name stem (``tables/<key>.md``...) and HTML id.
    title, notes
        Heading and source notes (conventions), shown in every format.
    frame
        Display text only, columns in display order; Markdown, CSV, HTML and LaTeX show these
        very strings, so every format has the same digits.
    labels
        ``(column, label)``: a shorter label shown under the column's spanner (HTML, LaTeX);
        Markdown and CSV keep the full, unique column name.
    spanners
        ``(label, columns)``: a heading over adjacent columns (HTML, LaTeX).
    highlight
        ``(column, rows)``: cells to highlight as significant (HTML).
    numeric
        Columns aligned right.
    data
        The data file (stem, e.g. ``car``) holding every row of the table's kind; the pages link
        its CSV twin.
    """

    key: str
    title: str
    frame: pl.DataFrame
    notes: tuple[str, ...] = ()
    labels: tuple[tuple[str, str], ...] = ()
    spanners: tuple[tuple[str, tuple[str, ...]], ...] = ()
    highlight: tuple[tuple[str, tuple[int, ...]], ...] = ()
    numeric: tuple[str, ...] = ()
    data: str = ""


NOWRAP = frozenset({"event", "ticker", "day 0", "date", "window", "group", "announced", "confounder", "its day 0",
                    "from", "to", "day", "rank", "role", "its role", "status", "timing"})
"""Columns whose cells never wrap (ids, tickers, dates, windows, event days)."""


def _money(frame: pl.DataFrame, columns: Sequence[str], changes: Sequence[str] = ()) -> dict[str, Callable[[float | None], str]]:
    """Formats of the money ``columns`` of ``frame``: one unit for all of them
    (:func:`analysis.formats.money_unit`), signed for the ``changes``."""
    cols = [c for c in columns if c in frame.columns]
    unit = money_unit(v for c in cols for v in frame[c].to_list())
    return {c: partial(dollars, unit=unit, signed=c in changes) for c in cols}


def starred_expr(value: str, p: str) -> pl.Expr:
    """``value`` (a return) with the stars of ``p``: ``+3.78%***`` (:func:`analysis.formats.starred`)."""
    return pl.struct(value, p).map_elements(lambda s: starred(s[value], s[p]), return_dtype=pl.String)


def offset_expr(column: str = S.OFFSET) -> pl.Expr:
    """An event-day column as signed text (:func:`analysis.formats.offset`)."""
    return pl.col(column).map_elements(offset, return_dtype=pl.String)


def _fmt(frame: pl.DataFrame, formats: dict[str, Callable[[float | None], str]]) -> pl.DataFrame:
    return frame.with_columns(
        pl.col(c).map_elements(f, return_dtype=pl.String, skip_nulls=False) for c, f in formats.items()
    ).with_columns(pl.all().cast(pl.String).fill_null(""))


def _rows_where(frame: pl.DataFrame, condition: pl.Expr) -> tuple[int, ...]:
    """Row numbers of ``frame`` where ``condition`` holds (nulls: no)."""
    return tuple(frame.with_row_index("_i").filter(condition.fill_null(False))["_i"].to_list())


def _significant(p: str) -> pl.Expr:
    return pl.col(p) < SIGNIFICANT


def _window_label(start: str = S.WINDOW_START, end: str = S.WINDOW_END) -> pl.Expr:
    """``[-1,+1]`` from the window bounds (the text of :attr:`analysis.specs.Window.label`)."""
    def side(c: str) -> pl.Expr:
        return pl.when(pl.col(c) > 0).then(pl.format("+{}", pl.col(c))).otherwise(pl.col(c).cast(pl.String))

    return pl.format("[{},{}]", side(start), side(end)).alias("window")


@dataclass(frozen=True)
class Shown:
    """The event rows a human table lists (:func:`shown_rows`).

    Attributes
    ----------
    keys
        ``event_id, ticker`` in display order.
    total
        Event rows there were to choose from.
    selection
        How the rows were chosen, when not all are listed (empty otherwise).
    """

    keys: pl.DataFrame
    total: int
    selection: str = ""

    @property
    def complete(self) -> bool:
        return self.keys.height == self.total

    def head(self, n: int) -> Shown:
        """The first ``n`` rows of a selection (a complete list stays complete)."""
        if self.complete or self.keys.height <= n:
            return self
        return Shown(self.keys.head(n), self.total, f"the first {n} of the selection of the summary table ({self.selection})")

    def note(self, file: str) -> str:
        """The line under a table listing a selection: what it shows, and how many more rows
        ``file`` holds."""
        return (f"{self.keys.height:,} of {self.total:,} event rows: {self.selection}. "
                f"{self.total - self.keys.height:,} more event rows in {file} (every row, with its CSV twin).")


def shown_rows(
    result: StudyResult, rows: pl.DataFrame | None = None, limit: int = MAX_EVENT_ROWS, size: int = SELECTED_ROWS,
) -> Shown:
    """The event rows of ``rows`` (``event_id, ticker``, default every event row of the result)
    that a human table lists.

    Up to ``limit`` rows: all of them, in their order. Beyond, ``size`` rows in three blocks:
    the ``3 size // 10`` most significant on the first window (smallest p, then largest |t|),
    the ``3 size // 10`` largest dollar reactions on it (|$ abnormal|) not already listed, and
    the skipped then flagged rows (with their reason, in their order) up to ``size`` in all.
    Vectorised: a sort and a few joins, whatever the number of rows.
    """
    keys = [S.EVENT_ID, S.TICKER]
    rows = (result.events if rows is None else rows).select(keys)
    if rows.height <= limit:
        return Shown(rows, rows.height)
    w = result.spec.windows[0]
    first = result.car.filter((pl.col(S.WINDOW_START) == w.start) & (pl.col(S.WINDOW_END) == w.end)).select(
        *keys, S.P_VALUE, S.T_STAT, S.DOLLAR_ABNORMAL)
    cand = (
        rows.with_row_index("_order")
        .join(first, on=keys, how="left", maintain_order="left")
        .join(result.events.select(*keys, STATUS), on=keys, how="left", maintain_order="left")
    )
    top = cand.drop_nulls(S.P_VALUE).sort(
        pl.col(S.P_VALUE), pl.col(S.T_STAT).abs(), "_order", descending=[False, True, False], nulls_last=True
    ).head(3 * size // 10)
    rest = cand.join(top, on="_order", how="anti")
    big = rest.drop_nulls(S.DOLLAR_ABNORMAL).sort(
        pl.col(S.DOLLAR_ABNORMAL).abs(), "_order", descending=[True, False]).head(3 * size // 10)
    rest = rest.join(big, on="_order", how="anti")
    caveats = rest.filter(pl.col(STATUS) != "ok")
    noted = caveats.sort(pl.col(STATUS) != "skipped", "_order").head(size - top.height - big.height)
    chosen = pl.concat([top, big, noted]).select(keys)
    flagged = cand.filter(pl.col(STATUS) != "ok").height
    parts = [
        f"the {top.height} most significant on {w.label} (smallest p)" if top.height else "",
        f"the {big.height} largest |$ abnormal| on {w.label}" if big.height else "",
        f"{noted.height} of the {caveats.height:,} other skipped or flagged rows (skipped first)" if noted.height else "",
    ]
    selection = (", then ".join(p for p in parts if p)
                 + f"; {flagged:,} rows in all have a caveat (events.parquet: status, reason)")
    return Shown(chosen, rows.height, selection)


def _limit(frame: pl.DataFrame, shown: Shown, notes: list[str], file: str) -> pl.DataFrame:
    """The rows of ``frame`` of the event rows ``shown``, in its order (``frame`` itself when
    every row is shown), noting the selection in ``notes``."""
    if shown.complete:
        return frame
    notes.append(shown.note(file))
    order = shown.keys.with_row_index("_shown")
    return (frame.join(order, on=[S.EVENT_ID, S.TICKER], how="inner", maintain_order="left")
            .sort("_shown", maintain_order=True).drop("_shown"))


def _conventions(result: StudyResult) -> str:
    spec = result.spec
    return (
        f"{spec.model} model on estimation window {spec.estimation.label} (sessions relative to day 0, "
        f"at least {spec.min_estimation_obs} returns), {spec.returns} returns of adjusted closes, "
        f"calendar {spec.calendar}. Day 0: the first session in which the market could react."
    )


STARS_NOTE = "*** p<0.01, ** p<0.05, * p<0.10; shaded cells: p<0.05 (two-sided)."


FLAGS_NOTE = (
    "flags: another catalog event of the ticker inside the event windows (confounded: its day in this event's time) "
    "or the estimation window, and estimation-window outliers (|residual| > 4 sigma); a row without numbers says why "
    "(no data: ...); see the events and confounders tables."
)


def flags(result: StudyResult, rows: pl.DataFrame | None = None) -> pl.DataFrame:
    """``event_id, ticker, flags``: a short caveat per event row (``confounded: amzn-q3-2025-earnings
    (day -1); 2 estimation outliers``), or, for a skipped row, why it has no numbers (``no data: no
    prices for AMD``: its reason in the events table); null when none; for the event rows of
    ``rows`` (default all)."""
    keys = [S.EVENT_ID, S.TICKER]
    inside = pl.col(S.LOCATION) == EVENT_WINDOW
    events, confounders = result.events, result.confounders
    if rows is not None:
        events, confounders = (f.join(rows.select(keys), on=keys, how="semi", maintain_order="left") for f in (events, confounders))
    conf = confounders.sort(*keys, S.OFFSET).group_by(keys, maintain_order=True).agg(
        pl.format("confounded: {} (day {})", S.CONFOUNDER_ID, offset_expr())
        .filter(inside).str.join("; ").replace("", None).alias("_in"),
        (~inside).sum().alias("_out"),
    )
    return events.select(*keys, S.N_OUTLIERS, STATUS, S.REASON).join(conf, on=keys, how="left", maintain_order="left").select(
        *keys,
        pl.when(pl.col(STATUS) == "skipped").then(pl.format("no data: {}", S.REASON)).otherwise(pl.concat_str(
            pl.col("_in"),
            pl.when(pl.col("_out") > 0).then(pl.format("{} confounder(s) in the estimation window", "_out")),
            pl.when(pl.col(S.N_OUTLIERS) > 0).then(pl.format("{} estimation outlier(s)", S.N_OUTLIERS)),
            separator="; ", ignore_nulls=True,
        ).replace("", None)).alias("flags"),
    )


def summary_table(result: StudyResult, shown: Shown | None = None) -> Table:
    """One row per event x ticker (of ``shown``, default :func:`shown_rows`): day 0, the day-0
    AR, then CAR (with stars), t, p and dollar value for every window under a spanner per
    window, and the row's flags."""
    keys = [S.EVENT_ID, S.TICKER]
    rows = result.events.join(result.car.select(keys).unique(), on=keys, how="semi", maintain_order="left")
    notes: list[str] = []
    rows = _limit(rows.select(*keys, S.ROLE), shown or shown_rows(result), notes, "car.parquet")
    return _reaction_table(result, rows, "summary", "Reaction per event: abnormal returns, CARs and dollar value", tuple(notes))


def _only(frame: pl.DataFrame, only: Sequence[str] | None) -> pl.DataFrame:
    return frame if only is None else frame.filter(pl.col(S.EVENT_ID).is_in(list(only)))


def spillovers_table(result: StudyResult, only: Sequence[str] | None = None, shown: Shown | None = None) -> Table:
    """Who moved: per event (of ``only``, default all; of the event rows ``shown``, default
    :func:`shown_rows`, when not all are), its primary and related tickers ranked by the size of
    their day-0 dollar reaction (:func:`analysis.spillovers.who_moved`), with the summary's
    columns; events in the order of the events table (of ``shown``'s selection)."""
    shown = shown or shown_rows(result)
    notes: tuple[str, ...] = ()
    order = result.events.select(S.EVENT_ID)
    if not shown.complete:
        notes = (shown.note("car.parquet") + " Here: every ticker of their events.",)
        order = shown.keys.select(S.EVENT_ID)
        allowed = None if only is None else set(only)
        only = [e for e in order[S.EVENT_ID].unique(maintain_order=True).to_list() if allowed is None or e in allowed]
    order = order.unique(maintain_order=True).with_row_index("_order")
    car, ar, ev = (_only(f, only) for f in (result.car, result.abnormal_returns, result.events))
    ranked = (
        who_moved(car, ar, ev)
        .join(order, on=S.EVENT_ID, how="left")
        .sort("_order", RANK, maintain_order=True)
        .unique([S.EVENT_ID, S.TICKER], keep="first", maintain_order=True)
        .select(S.EVENT_ID, pl.col(RANK).alias("rank"), S.TICKER, S.ROLE)
    )
    return _reaction_table(
        result, ranked, "spillovers", "Who moved: every ticker of each event, largest day-0 dollar reaction first",
        extra_notes=("Primary and related (spillover) tickers with the same model, estimation window and day 0; rank by "
                     "|AR day 0 x market cap|. Groups '<event>:related' in the tests table pool the related tickers "
                     "of an event (same day 0: read the KP-adjusted BMP t, which accounts for their cross-correlation).",
                     *notes),
    )


def _reaction_table(
    result: StudyResult, rows: pl.DataFrame, key: str, title: str, extra_notes: tuple[str, ...] = ()
) -> Table:
    """The summary layout for ``rows`` (``event_id, ticker`` and leading columns, in order; the
    rows a person reads, see :func:`shown_rows`)."""
    notes = [
        _conventions(result),
        "AR day 0: abnormal return on day 0. CAR: cumulative abnormal return over the window; t from "
        "the prediction-error variance including its cross-day covariance (MacKinlay 1997), p from "
        "Student t with the model's residual degrees of freedom. " + STARS_NOTE,
        "$ abnormal = CAR x market cap at the close of day -1 (shares outstanding x close); "
        "$ raw = the whole price move over the window x the same market cap.",
        FLAGS_NOTE, *extra_notes,
    ]
    keys = [S.EVENT_ID, S.TICKER]
    car = result.car.join(rows.select(keys), on=keys, how="semi", maintain_order="left")
    day0 = result.abnormal_returns.filter(pl.col(S.EVENT_DAY) == 0).join(rows.select(keys), on=keys, how="semi").select(
        *keys, pl.col(S.ABNORMAL_RET).alias("AR day 0"), pl.col(S.AR_T).alias("t day 0"), pl.col(S.AR_P).alias("p day 0"),
    )
    wide = (
        rows.join(result.events.select(*keys, S.DAY0, S.MARKET_CAP), on=keys, how="left", maintain_order="left")
        .join(day0, on=keys, how="left", maintain_order="left")
    )
    formats: dict[str, Callable[[float | None], str]] = {"AR day 0": pct, "t day 0": num, "p day 0": pvalue}
    money: list[str] = [S.MARKET_CAP]
    labels = [("AR day 0", "AR"), ("t day 0", "t"), ("p day 0", "p")]
    spanners = [("Day 0", ("AR day 0", "t day 0", "p day 0"))]
    marks = [("AR day 0", "p day 0")]
    for i, w in enumerate(result.spec.windows):
        c, t, p, d, raw = (f"{name} {w.label}" for name in ("CAR", "t", "p", "$ abnormal", "$ raw"))
        part = car.filter((pl.col(S.WINDOW_START) == w.start) & (pl.col(S.WINDOW_END) == w.end)).select(
            *keys,
            starred_expr(S.CAR, S.P_VALUE).alias(c),
            pl.col(S.T_STAT).alias(t), pl.col(S.P_VALUE).alias(p), pl.col(S.DOLLAR_ABNORMAL).alias(d),
            *([pl.col(S.DOLLAR_RAW).alias(raw)] if i == 0 else []),
        )
        wide = wide.join(part, on=keys, how="left", maintain_order="left")
        cols = (c, t, p, d, *((raw,) if i == 0 else ()))
        formats |= {t: num, p: pvalue}
        money += [d, raw]
        labels += [(c, "CAR"), (t, "t"), (p, "p"), (d, "$ abnormal"), (raw, "$ raw")][: len(cols)]
        spanners.append((f"CAR {w.label}", cols))
        marks.append((c, p))
    wide = wide.join(flags(result, rows), on=keys, how="left", maintain_order="left")
    highlight = tuple((col, _rows_where(wide, _significant(p))) for col, p in marks)
    formats |= _money(wide, money, changes=money[1:])
    frame = _fmt(wide, {k: v for k, v in formats.items() if k in wide.columns}).rename(
        {S.EVENT_ID: "event", S.TICKER: "ticker", S.ROLE: "role", S.DAY0: "day 0", S.MARKET_CAP: "market cap (day -1)"}
    )
    numeric = tuple(c for c in frame.columns if c not in ("event", "ticker", "role", "day 0", "flags"))
    return Table(
        key, title, frame, tuple(notes),
        labels=tuple(labels), spanners=tuple(spanners), highlight=highlight, numeric=numeric, data="car",
    )


def abnormal_returns_table(result: StudyResult, shown: Shown | None = None) -> Table:
    """A row per event row (of ``shown``, default :func:`shown_rows`, at most
    :data:`MAX_DAILY_EVENT_ROWS` of a selection) and reported day."""
    notes: list[str] = [
        "AR = return - normal return of the model; t = AR / prediction-error s.e. (MacKinlay 1997); "
        "CAR to date cumulates the ARs from the first reported day. Shaded: p<0.05.",
        _conventions(result),
    ]
    ar = _limit(result.abnormal_returns, (shown or shown_rows(result)).head(MAX_DAILY_EVENT_ROWS), notes,
                "abnormal_returns.parquet")
    marks = _rows_where(ar, _significant(S.AR_P))
    frame = _fmt(
        ar.select(S.EVENT_ID, S.TICKER, S.DATE, S.EVENT_DAY, S.RET, S.BENCHMARK_RET, S.NORMAL_RET, S.ABNORMAL_RET, S.AR_T, S.AR_P, S.CUM_ABNORMAL_RET),
        {S.RET: pct, S.BENCHMARK_RET: pct, S.NORMAL_RET: pct, S.ABNORMAL_RET: pct, S.AR_T: num, S.AR_P: pvalue, S.CUM_ABNORMAL_RET: pct},
    ).rename({S.EVENT_DAY: "day", S.RET: "return", S.BENCHMARK_RET: "benchmark", S.NORMAL_RET: "normal",
              S.ABNORMAL_RET: "AR", S.AR_T: "t", S.AR_P: "p", S.CUM_ABNORMAL_RET: "CAR to date", S.EVENT_ID: "event"})
    return Table(
        "abnormal_returns", "Daily abnormal returns around day 0", frame, tuple(notes),
        spanners=(("Returns", ("return", "benchmark", "normal")), ("Abnormal", ("AR", "t", "p", "CAR to date"))),
        highlight=(("AR", marks), ("p", marks)),
        numeric=("day", "return", "benchmark", "normal", "AR", "t", "p", "CAR to date"), data="abnormal_returns",
    )


def car_table(result: StudyResult, shown: Shown | None = None) -> Table:
    """A row per event row (of ``shown``, default :func:`shown_rows`) and window."""
    notes: list[str] = [
        "CAR s.e. from the prediction-error variances and their cross-day covariance (MacKinlay 1997). "
        "BHAR: buy-and-hold abnormal return (Barber & Lyon 1997); days: window days with an abnormal return. "
        + STARS_NOTE,
        "AV: mean abnormal log volume over the window, ln(1 + volume) minus its estimation-window mean "
        "(+0.69 = twice the normal volume), with its t (Campbell & Wasley 1996).",
    ]
    car = _limit(result.car, shown or shown_rows(result), notes, "car.parquet")
    marks = _rows_where(car, _significant(S.P_VALUE))
    money = _money(car, (S.DOLLAR_ABNORMAL, S.DOLLAR_RAW), changes=(S.DOLLAR_ABNORMAL, S.DOLLAR_RAW))
    frame = _fmt(
        car.with_columns(_window_label()).select(
            S.EVENT_ID, S.TICKER, "window", S.N_DAYS, S.CAR, S.CAR_SE, S.T_STAT, S.P_VALUE, S.BHAR, S.RAW_RETURN,
            S.DOLLAR_ABNORMAL, S.DOLLAR_RAW, S.ABNORMAL_VOLUME, S.ABNORMAL_VOLUME_T, S.REASON,
        ),
        {S.CAR: pct, S.CAR_SE: pct, S.T_STAT: num, S.P_VALUE: pvalue, S.BHAR: pct, S.RAW_RETURN: pct,
         S.ABNORMAL_VOLUME: signed, S.ABNORMAL_VOLUME_T: num} | money,
    ).rename({S.EVENT_ID: "event", S.N_DAYS: "days", S.CAR: "CAR", S.CAR_SE: "s.e.", S.T_STAT: "t", S.P_VALUE: "p",
              S.BHAR: "BHAR", S.RAW_RETURN: "raw return", S.DOLLAR_ABNORMAL: "$ abnormal", S.DOLLAR_RAW: "$ raw",
              S.ABNORMAL_VOLUME: "AV", S.ABNORMAL_VOLUME_T: "t(AV)", S.REASON: "note"})
    return Table(
        "car", "Cumulative abnormal returns per window", frame, tuple(notes),
        spanners=(("Abnormal", ("CAR", "s.e.", "t", "p", "BHAR")), ("Dollar value", ("$ abnormal", "$ raw")),
                  ("Volume", ("AV", "t(AV)"))),
        highlight=(("CAR", marks), ("p", marks)),
        numeric=("days", "CAR", "s.e.", "t", "p", "BHAR", "raw return", "$ abnormal", "$ raw", "AV", "t(AV)"), data="car",
    )


def models_table(result: StudyResult, shown: Shown | None = None) -> Table:
    """A row per event row (of ``shown``, default :func:`shown_rows`)."""
    spec = result.spec
    notes: list[str] = [
        f"Normal-return model: {spec.model}, fitted by OLS on the estimation window {spec.estimation.label}; "
        "alpha and sigma = sqrt(SSR / (T - k)) (the daily residual standard deviation with k coefficients) in percent "
        "per session; T: estimation returns."
    ]
    if spec.risk_free:
        notes.append(f"Regression on excess returns over the risk-free rate rf of the factor set {spec.risk_free}; "
                     "beta is the loading on the market (mkt_rf, or the benchmark's excess return for capm).")
    m = _limit(result.models, shown or shown_rows(result), notes, "models.parquet")
    loadings = [c for c in m.columns if c.startswith(S.LOADING_PREFIX)]
    frame = _fmt(
        m.select(S.EVENT_ID, S.TICKER, S.MODEL, S.ALPHA, S.BETA, *loadings, S.SIGMA, S.R_SQUARED, S.N_OBS,
                 S.ESTIMATION_START, S.ESTIMATION_END, S.REASON),
        {S.ALPHA: pct, S.SIGMA: pct, S.R_SQUARED: num} | dict.fromkeys((S.BETA, *loadings), num),
    ).rename({S.EVENT_ID: "event", S.SIGMA: "sigma (daily)", S.R_SQUARED: "R2", S.N_OBS: "T",
              S.ESTIMATION_START: "from", S.ESTIMATION_END: "to", S.REASON: "note"})
    return Table(
        "models", "Normal-return models (estimation window)", frame, tuple(notes),
        spanners=(("Estimates", ("alpha", "beta", *loadings, "sigma (daily)", "R2")), ("Estimation window", ("T", "from", "to"))),
        numeric=("alpha", "beta", *loadings, "sigma (daily)", "R2", "T"), data="models",
    )


def window_label(start: int, end: int) -> str:
    """``day -1`` for a one-day window, ``[-1,+1]`` otherwise."""
    return f"day {start}" if start == end else Window(start, end).label


def tests_table(result: StudyResult) -> Table:
    """Every test of every group on one table: a row per group and reported day (the AAR),
    then per window (the CAAR); a column per test holding ``statistic (p-value)``. Beyond
    :data:`MAX_TEST_GROUPS` groups, the groups with the most events."""
    tests = result.tests
    size = tests.group_by(S.GROUP).agg(pl.col(S.N_EVENTS).max()).sort(S.N_EVENTS, S.GROUP, descending=[True, False])
    bound = []
    if size.height > MAX_TEST_GROUPS:
        tests = tests.join(size.head(MAX_TEST_GROUPS), on=S.GROUP, how="semi", maintain_order="left")
        bound = [f"{MAX_TEST_GROUPS} of {size.height:,} groups: those with the most events; "
                 f"{size.height - MAX_TEST_GROUPS:,} more in tests.parquet (every group, with its CSV twin)."]
    keys = [S.GROUP, S.WINDOW_START, S.WINDOW_END]
    cell = pl.struct(S.STATISTIC, S.P_VALUE).map_elements(lambda s: stat_p(s[S.STATISTIC], s[S.P_VALUE]), return_dtype=pl.String)
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
        part = tests.filter(pl.col(S.TEST) == name).select(*keys, cell.alias(labels[name]), pl.col(S.P_VALUE).alias(f"_p_{name}"))
        wide = wide.join(part, on=keys, how="left", maintain_order="left")
    highlight = tuple((labels[name], _rows_where(wide, _significant(f"_p_{name}"))) for name in TEST_NAMES)
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
        "CZ sign Z Corrado-Zivney (1992); Wilcoxon signed-rank z; GRANK t Kolari-Pynnonen (2011). Shaded: p<0.05.",
    ]
    missing = (
        tests.filter(pl.col(S.REASON).is_not_null())
        .group_by(S.TEST, S.REASON)
        .agg(pl.col(S.GROUP).unique().sort())
        .sort(pl.col(S.TEST).cast(pl.Enum(TEST_NAMES)), S.REASON)
    )
    for r in missing.iter_rows(named=True):
        notes.append(f"n/a {labels[r[S.TEST]]}: {r[S.REASON]} (group {', '.join(r[S.GROUP])}).")
    notes += bound
    return Table(
        "tests", "Tests across the events of each group", frame, tuple(notes),
        spanners=tuple((family.capitalize(), tuple(t.label for t in TESTS if t.family == family))
                       for family in ("parametric", "non-parametric")),
        highlight=highlight, numeric=("N", "AAR / CAAR", *labels.values()), data="tests",
    )


def regressions_table(result: StudyResult, shown: Shown | None = None) -> Table:
    """The per-event regressions of the event rows (of ``shown``, default :func:`shown_rows`, at
    most :data:`MAX_DAILY_EVENT_ROWS` of a selection)."""
    notes = ["market_model: R = a + b Rm on the estimation window; event_dummies: R = a + b Rm + sum_k g_k D_k "
             "over the estimation window and event days, so g_k = AR_k (statsmodels OLS). Units: alpha, the event-day "
             "dummies d[k] and their s.e. in percent of the daily return (as the ARs); beta and R2 as ratios. Shaded: p<0.05."]
    reg = _limit(result.regressions.filter(pl.col(S.EVENT_ID).is_not_null()),
                 (shown or shown_rows(result)).head(MAX_DAILY_EVENT_ROWS), notes, "regressions.parquet")
    marks = _rows_where(reg, _significant(S.P_VALUE))
    ratio = pl.col(TERM) == "beta"  # a ratio; alpha and the event-day dummies are returns (percent)
    frame = _fmt(
        reg.select(S.EVENT_ID, S.TICKER, REGRESSION, TERM, *(
            pl.when(ratio).then(pl.col(c).map_elements(num, return_dtype=pl.String))
            .otherwise(pl.col(c).map_elements(pct, return_dtype=pl.String)).alias(c) for c in (ESTIMATE, STD_ERROR)),
            S.T_STAT, S.P_VALUE, S.N_OBS, S.R_SQUARED),
        {S.T_STAT: num, S.P_VALUE: pvalue, S.R_SQUARED: num},
    ).rename({S.EVENT_ID: "event", STD_ERROR: "s.e.", S.T_STAT: "t", S.P_VALUE: "p", S.N_OBS: "n", S.R_SQUARED: "R2"})
    return Table(
        "regressions", "Per-event regressions (statsmodels OLS)", frame, tuple(notes),
        highlight=((ESTIMATE, marks), ("p", marks)), numeric=(ESTIMATE, "s.e.", "t", "p", "n", "R2"), data="regressions",
    )


def events_table(result: StudyResult, shown: Shown | None = None) -> Table:
    """Day 0, status and reason of the event rows (of ``shown``, default :func:`shown_rows`:
    skipped and flagged rows among them)."""
    notes: list[str] = [
        "status: ok; flagged (a result with a caveat); skipped (no result, see note).",
        "T: estimation returns; dropped: estimation days left out as another event's window days "
        "(drop_confounded); confounders: other catalog events of the ticker around the event; outliers: "
        "estimation days with |residual| > 4 sigma (dates in the note).",
    ]
    events = _limit(result.events, shown or shown_rows(result), notes, "events.parquet")
    frame = _fmt(
        events.select(S.EVENT_ID, S.TICKER, S.ROLE, S.GROUP, S.ANNOUNCED, S.TIMING, S.DAY0, S.DAY0_RULE, S.N_OBS,
                      S.N_DROPPED, S.N_CONFOUNDERS, S.N_OUTLIERS, STATUS, S.REASON),
        {},
    ).rename({S.EVENT_ID: "event", S.DAY0: "day 0", S.DAY0_RULE: "day 0 rule", S.N_OBS: "T", S.N_DROPPED: "dropped",
              S.N_CONFOUNDERS: "confounders", S.N_OUTLIERS: "outliers", S.REASON: "note"})
    return Table("events", "Events, day 0 and status", frame, tuple(notes), numeric=("T", "dropped", "confounders", "outliers"),
                 data="events")


def confounders_table(result: StudyResult, only: Sequence[str] | None = None, shown: Shown | None = None) -> Table:
    """Other catalog events of the same ticker around each event row (of the events ``only``,
    default all, and the event rows ``shown``, default :func:`shown_rows`), with the event row's
    AR on the confounder's day 0 and, when the confounder is in the study, its own day-0 reaction;
    of a selection, at most :data:`MAX_EVENT_ROWS` rows."""
    notes = [
        "A confounder is another catalog event naming the same ticker (primary or related) whose day 0 falls in the "
        "event's estimation window, event windows or the days between (or whose own event-window days reach into the "
        "estimation window). day: its day 0 in this event's time. Estimation days: its event-window days inside this "
        "event's estimation window, dropped with drop_confounded (--drop-confounded), else kept.",
        "AR that day: this event row's abnormal return on the confounder's day 0 (part of every window holding it). "
        "Own AR day 0 and $: the confounder's own reaction, when it is studied in this run. " + STARS_NOTE,
    ]
    if result.confounders[S.DISCOVERED].fill_null(False).any():
        notes.append("Studied \"no (SEC filing)\": a filing that market-reaction events discover found on SEC EDGAR for "
                     "the ticker (timed from its SEC header), taken from the store as a candidate confounder; "
                     "run --no-discovered leaves them out.")
    shown = shown or shown_rows(result)
    conf = _limit(_only(result.confounders, only), shown, notes, "confounders.parquet")
    if not shown.complete and conf.height > MAX_EVENT_ROWS:
        notes.append(f"The first {MAX_EVENT_ROWS} of the {conf.height:,} confounders of these event rows.")
        conf = conf.head(MAX_EVENT_ROWS)
    conf = confounder_effects(conf, result.abnormal_returns, result.events)
    frame = _fmt(
        conf.with_columns(
            offset_expr(),
            pl.coalesce(S.WINDOWS, S.LOCATION).alias(S.LOCATION),
            starred_expr(CONFOUNDER_AR0, CONFOUNDER_AR0_P).alias(CONFOUNDER_AR0),
            pl.when(pl.col(S.IN_STUDY)).then(pl.lit("yes"))
            .when(pl.col(S.DISCOVERED).fill_null(False)).then(pl.lit("no (SEC filing)"))
            .otherwise(pl.lit("no")).alias(S.IN_STUDY),
        ).select(S.EVENT_ID, S.TICKER, S.ROLE, S.CONFOUNDER_ID, S.CONFOUNDER_ROLE, S.CONFOUNDER_DAY0, S.OFFSET, S.LOCATION,
                 S.CONTAMINATED_DAYS, AR_AT_OFFSET, S.IN_STUDY, CONFOUNDER_AR0, CONFOUNDER_AR0_T, CONFOUNDER_AR0_P,
                 CONFOUNDER_DOLLARS),
        {AR_AT_OFFSET: pct, CONFOUNDER_AR0_T: num, CONFOUNDER_AR0_P: pvalue} | _money(conf, (CONFOUNDER_DOLLARS,), (CONFOUNDER_DOLLARS,)),
    ).rename({S.EVENT_ID: "event", S.CONFOUNDER_ID: "confounder", S.CONFOUNDER_ROLE: "its role",
              S.CONFOUNDER_DAY0: "its day 0", S.OFFSET: "day", S.LOCATION: "where", S.CONTAMINATED_DAYS: "estimation days",
              AR_AT_OFFSET: "AR that day", S.IN_STUDY: "studied", CONFOUNDER_AR0: "own AR day 0", CONFOUNDER_AR0_T: "t",
              CONFOUNDER_AR0_P: "p", CONFOUNDER_DOLLARS: "own $ day 0"})
    return Table(
        "confounders", "Confounding events: other catalog events of the same ticker", frame, tuple(notes),
        spanners=(("Its own reaction", ("own AR day 0", "t", "p", "own $ day 0")),),
        numeric=("day", "estimation days", "AR that day", "own AR day 0", "t", "p", "own $ day 0"), data="confounders",
    )


def claims_table(result: StudyResult, only: Sequence[str] | None = None, shown: Shown | None = None) -> Table:
    """Each claim of the catalog (of the events ``only``, default all, and of the events of the
    rows ``shown``, default :func:`shown_rows`) beside what the prices say, with the verdict and why."""
    shown = shown or shown_rows(result)
    claims = _only(result.claims, only)
    if not shown.complete:
        claims = _only(claims, shown.keys[S.EVENT_ID].unique().to_list())
    frame = _fmt(
        claims.select(S.EVENT_ID, S.TICKER, S.CLAIM, S.CLAIM_KIND, BASIS, S.VERDICT, S.AT_CLOSE, S.AT_INTRADAY, S.WHY),
        {},
    ).rename({S.EVENT_ID: "event", S.CLAIM_KIND: "kind", BASIS: "basis", S.AT_CLOSE: "at the close",
              S.AT_INTRADAY: "at the intraday extreme", S.WHY: "why"})
    notes = (
        "Claims from the catalog, checked on the stored raw (split-adjusted) close, high and low of day 0 against the "
        "close of day -1, with the shares outstanding of the dollar values. Verdicts: consistent, inconsistent, cannot "
        "tell. 'about', 'around', 'roughly', '~' read as +/-15%; a bare figure as +/-5%; 'more than' / 'topped' as a "
        "floor, 'nearly' as up to 15% below. Intraday the price moved through every value between the day's low and "
        "high. Records are judged over the stored history only (its start is stated).",
        *(() if shown.complete else (f"The claims of the events of {shown.note('claims.parquet')}",)),
    )
    return Table("claims", "Headline claims beside the data", frame, notes, data="claims")


def all_tables(result: StudyResult) -> list[Table]:
    """The report's tables, each listing the event rows of one :func:`shown_rows` selection."""
    shown = shown_rows(result)
    return [
        summary_table(result, shown), events_table(result, shown), claims_table(result, shown=shown),
        confounders_table(result, shown=shown), spillovers_table(result, shown=shown), car_table(result, shown),
        abnormal_returns_table(result, shown), models_table(result, shown), tests_table(result),
        regressions_table(result, shown),
    ]


# --- rendering ---------------------------------------------------------------------


def to_csv(table: Table) -> str:
    """The table as CSV for spreadsheets: a cell a spreadsheet would run as a formula (one
    starting with ``=``, ``@``, a tab or carriage return, or with ``+`` / ``-`` not followed by
    a number) gets a leading apostrophe (OWASP's advice against CSV injection). Only display
    tables; the data CSVs beside the Parquet files keep every text as written."""
    formula = r"^(?:[=@\t\r]|[+-](?:[^\d.$]|$))"
    return table.frame.with_columns(
        pl.when(pl.col(c).str.contains(formula)).then(pl.concat_str(pl.lit("'"), pl.col(c))).otherwise(pl.col(c)).alias(c)
        for c in table.frame.columns
    ).write_csv()


def to_markdown(table: Table, *, heading: str = "##") -> str:
    cols = table.frame.columns
    lines = [f"{heading} {md_text(table.title)}", "", "| " + " | ".join(md_text(c) for c in cols) + " |",
             "|" + "|".join("--:" if c in table.numeric else "---" for c in cols) + "|"]
    lines += ["| " + " | ".join(md_text(v) for v in row) + " |" for row in table.frame.iter_rows()]
    if not table.frame.height:
        lines.append("| " + " | ".join("" for _ in cols) + " |")
    lines += [line for n in table.notes for line in ("", f"*{md_text(n)}*")]
    return "\n".join(lines) + "\n"


def summary_markdown(table: SummaryTable) -> str:
    """A regression table's Markdown (statsmodels' summary_col layout) with its heading
    rebuilt from the title through :func:`md_text` (the title names the group: user text)."""
    body = table.markdown.removeprefix(f"## {table.title}")
    return f"## {md_text(table.title)}" + ("" if body.startswith("\n") else "\n\n") + body


def gt(table: Table):
    """``table`` as a great_tables ``GT`` (header, spanners, labels, highlights, notes): its
    LaTeX (:func:`to_latex`) and the notebook view (``market_reaction.Study.summary``)."""
    from great_tables import GT, loc, style

    g = GT(table.frame, id=table.key.replace("_", "-")).tab_header(title=table.title)
    for label, cols in table.spanners:
        g = g.tab_spanner(label=label, columns=list(cols), id=f"{table.key}-{label}")
    if table.labels:
        g = g.cols_label(cases=dict(table.labels))
    if table.numeric:
        g = g.cols_align("right", columns=list(table.numeric))
    nowrap = [c for c in table.frame.columns if c in NOWRAP]
    if nowrap and table.frame.height:
        g = g.tab_style(style=style.css("white-space:nowrap"), locations=loc.body(columns=nowrap))
    for col, rows in table.highlight:
        if rows:
            g = g.tab_style(
                style=[style.fill(color=HIGHLIGHT_FILL), style.text(weight="bold")],
                locations=loc.body(columns=col, rows=list(rows)),
            )
    for note in table.notes:
        g = g.tab_source_note(note)
    return g.tab_options(table_font_size="13px", data_row_padding="3px", source_notes_font_size="11px",
                         column_labels_font_weight="bold", row_striping_include_table_body=True)


def to_html(table: Table) -> str:
    """``table`` as an HTML ``<table class="t">`` to embed in a page styled by
    :data:`~flows.reporting.markup.TABLE_CSS`: the title as its caption, spanners over their
    columns, numeric columns right-aligned, :data:`NOWRAP` columns unwrapped, significant cells
    ``class="sig"``, the notes in its footer. Every text is escaped; the id is the key's, so the same table gives
    the same bytes. (great_tables' HTML took about 40 µs per cell: 3 s for the 22,000 cells of
    a 10^5-event report; this is about 1 µs.)"""
    esc = html.escape
    cols = table.frame.columns
    labels = dict(table.labels)
    group = {c: (label, len(members)) for label, members in table.spanners for c in members[:1]}
    spanned = {c for _, members in table.spanners for c in members}
    kinds = [" ".join(k for k, on in (("n", c in table.numeric), ("nowrap", c in NOWRAP)) if on) for c in cols]
    lit = {(row, cols.index(col)) for col, rows in table.highlight for row in rows}
    if spanned:
        top = "".join(
            f'<th colspan="{group[c][1]}" scope="colgroup">{esc(group[c][0])}</th>' if c in group
            else "" if c in spanned else f'<th rowspan="2" scope="col"{_cls(k)}>{esc(labels.get(c, c))}</th>'
            for c, k in zip(cols, kinds)
        )
        under = "".join(f'<th scope="col"{_cls(k)}>{esc(labels.get(c, c))}</th>' for c, k in zip(cols, kinds) if c in spanned)
        head = f"<tr>{top}</tr><tr>{under}</tr>"
    else:
        head = "<tr>" + "".join(f'<th scope="col"{_cls(k)}>{esc(labels.get(c, c))}</th>' for c, k in zip(cols, kinds)) + "</tr>"
    body = "".join(
        "<tr>" + "".join(
            f"<td{_cls(k, (i, j) in lit)}>{esc(v)}</td>" for j, (v, k) in enumerate(zip(row, kinds))
        ) + "</tr>"
        for i, row in enumerate(table.frame.iter_rows())
    )
    foot = "".join(f'<tr><td colspan="{len(cols)}">{esc(n)}</td></tr>' for n in table.notes)
    return (f'<table class="t" id="{esc(table.key.replace("_", "-"))}"><caption>{esc(table.title)}</caption>'
            f"<thead>{head}</thead><tbody>{body}</tbody>" + (f"<tfoot>{foot}</tfoot>" if foot else "") + "</table>")


def _cls(kind: str, significant: bool = False) -> str:
    names = f"{kind} sig".strip() if significant else kind
    return f' class="{names}"' if names else ""


LONG_TABLE = 12
"""Rows above which a page shows a table collapsed (``<details>``), with a link to its data."""


def table_section(table: Table, rendered: str | None = None) -> str:
    """``table`` (``rendered``: its :func:`to_html`) in a ``<section id=key>`` of a page; a
    table of more than :data:`LONG_TABLE` rows collapsed, with a link to the CSV twin of its
    data file (every row)."""
    rendered = to_html(table) if rendered is None else rendered
    if table.frame.height > LONG_TABLE:
        return collapsible(table.key, table.title, rendered, table.frame.height, f"{table.data}.csv" if table.data else "")
    return f'<section id="{html.escape(table.key)}">{rendered}</section>'


def to_latex(table: Table) -> str:
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # "Styles are not yet supported in LaTeX output."
        return gt(table).as_latex()
