"""The Python API: events, prices, one study, and its read-only results (:mod:`market_reaction`).

Every function here is a thin layer over the steps ``market-reaction run`` takes
(:mod:`flows.orchestration.study`): the catalog parsers, the price importer's checks, the
batched engine with confounders, data checks and claims, and the report writer. Nothing is
computed differently; only where the prices come from may differ (a frame instead of the
store).
"""

from __future__ import annotations

import dataclasses
import warnings
from collections.abc import Iterable, Mapping, Sequence
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

import polars as pl

from analysis import schema as S
from analysis.calendar import align_events
from analysis.catalog import almost_numeric, parse_catalog_csv
from analysis.engine import STATUS, StudyResult, price_requirements
from analysis.errors import InputError
from analysis.specs import EventSpec, StudySpec, check_ticker, events_frame
from flows.io.calendars import exchange_calendar
from flows import progress
from flows.io.catalog import select_events
from flows.io.importers import check_prices, check_shares, read_price_file
from flows.io.prices import STUDY_COLUMNS, StudyData
from flows.io.store import PRICE_SCHEMA, SHARES_SCHEMA, PriceStore
from flows.orchestration.study import (
    acquire_prices, analyze, claim_tickers, load_data, load_factors, publish_report, report_title, run_manifest,
)
from flows.params import DateFormat, Source, read_catalog
from flows.settings import home

if TYPE_CHECKING:
    from great_tables import GT
    from matplotlib.figure import Figure

FRAME = "prices"  # what errors name when the prices are a frame
PRICE_COLUMNS = (S.TICKER, *PRICE_SCHEMA.names())
"""The columns of a normalised price frame: ``ticker, date, open, high, low, close, adj_close, volume``."""


class DataWarning(UserWarning):
    """Something about the data the user should know (no ``adj_close``, gaps, jumps, no data for a ticker)."""


# --- inputs -------------------------------------------------------------------------------------------------


def events(source: str | Path | pl.DataFrame | Any | Iterable[EventSpec], ids: Sequence[str] = ()) -> tuple[EventSpec, ...]:
    """The events of a catalog.

    Parameters
    ----------
    source
        A catalog file (``.toml`` or ``.csv``, see :mod:`analysis.catalog`), a polars or pandas
        frame with the CSV catalog's columns (``event_id, ticker, announced`` and optionally
        ``timing, benchmark, group, description, source, related`` and characteristics; one
        row per event x ticker), or :class:`~analysis.specs.EventSpec` values.
    ids
        The events to keep (default: all), in catalog order.

    Returns
    -------
    tuple of EventSpec

    Raises
    ------
    InputError
        What the command line reports for the same catalog: file or ``catalog`` frame, row,
        field and what was expected; unknown ids with close matches.
    """
    if isinstance(source, (str, Path)):
        found = read_catalog(source)
    elif _is_frame(source):
        found = parse_catalog_csv(_catalog_text(_polars(source, "catalog")), "catalog")
    else:
        found = tuple(source)
        wrong = [e for e in found if not isinstance(e, EventSpec)]
        if wrong:
            raise InputError(f"expected Event values, got {type(wrong[0]).__name__}", field="events")
    return select_events(found, list(ids))


def _catalog_text(frame: pl.DataFrame) -> str:
    """A catalog frame as the text of a CSV catalog: datetimes with a zone in ISO form with
    their offset, datetimes without one at midnight as dates (pandas' dates), other datetimes
    as written (the parser asks for their zone)."""
    def text(name: str, dtype: pl.DataType) -> pl.Expr:
        col = pl.col(name)
        if isinstance(dtype, pl.Datetime) and dtype.time_zone:
            return col.dt.to_string("%Y-%m-%dT%H:%M:%S%:z")
        if isinstance(dtype, pl.Datetime):
            return pl.when(col.dt.time() == pl.time(0)).then(col.dt.date().cast(pl.String)).otherwise(col.cast(pl.String))
        return col.cast(pl.String)

    return frame.select(text(n, t).alias(n) for n, t in frame.schema.items()).write_csv()


def prices(frame: pl.DataFrame | Any, ticker: str | None = None, date_format: DateFormat | None = None) -> pl.DataFrame:
    """Daily prices checked and normalised exactly as ``market-reaction prices import`` does.

    Parameters
    ----------
    frame
        A polars or pandas frame, one row per ticker and day: ``ticker, date, close`` and
        optionally ``open, high, low, adj_close, volume`` (names and aliases as in price files:
        :mod:`flows.io.importers`). Dates may be dates, datetimes at midnight or text.
    ticker
        The ticker of a frame without a ``ticker`` column.
    date_format
        ``M/D/YYYY`` or ``D/M/YYYY`` for dates given as slashed text that read both ways.

    Returns
    -------
    pl.DataFrame
        :data:`PRICE_COLUMNS`, sorted by ticker and date. A ticker whose ``adj_close`` is
        absent or empty on every row (a price index) gets its ``close`` there, with a
        :class:`DataWarning`, as on import.

    Raises
    ------
    InputError
        Naming the frame (``prices``), the first bad row (1-based) and field, and how many
        other rows are bad: duplicate dates, missing or non-positive prices, mixed date formats.
    """
    table = _polars(frame, FRAME)
    checked = check_prices(table, FRAME, None if ticker is None else check_ticker(ticker), ticker, date_format)
    return _normalised(checked.frames, checked.warnings)


def read_prices(path: str | Path, ticker: str | None = None, date_format: DateFormat | None = None) -> pl.DataFrame:
    """A price file (CSV or Parquet) checked and normalised as ``market-reaction prices import
    FILE [--ticker SYMBOL]`` reads it (:func:`prices`).

    Parameters
    ----------
    path
        The file; see :mod:`flows.io.importers` for its columns.
    ticker
        The ticker of a file without a ticker column (default: the file name upper-cased,
        ``GSPC.csv`` -> ``GSPC``; give ``"^GSPC"`` for the index).
    date_format
        ``M/D/YYYY`` or ``D/M/YYYY`` for a file whose slashed dates read both ways
        (``--date-format``).
    """
    read = read_price_file(Path(path), ticker, date_format)
    return _normalised(read.frames, read.warnings)


_events, _prices = events, prices  # the names the study's parameters take


def _normalised(frames: Mapping[str, pl.DataFrame], notes: Sequence[str]) -> pl.DataFrame:
    for note in notes:
        warnings.warn(note, DataWarning, stacklevel=3)
    parts = [f.select(pl.lit(t).alias(S.TICKER), *PRICE_SCHEMA.names()) for t, f in sorted(frames.items())]
    return pl.concat(parts) if parts else pl.DataFrame(schema={S.TICKER: pl.String} | dict(PRICE_SCHEMA))


def _is_frame(value: object) -> bool:
    return isinstance(value, pl.DataFrame) or type(value).__module__.startswith("pandas")


def _polars(frame: Any, name: str) -> pl.DataFrame:
    if isinstance(frame, pl.DataFrame):
        return frame
    if type(frame).__module__.startswith("pandas"):
        index = [n for n in frame.index.names if n is not None]
        return pl.from_pandas(frame.reset_index() if index else frame)
    raise InputError(f"expected a polars or pandas frame, got {type(frame).__name__}", field=name)


# --- the study ----------------------------------------------------------------------------------------------


def study(
    events: str | Path | pl.DataFrame | Any | Iterable[EventSpec],
    prices: pl.DataFrame | Any | None = None,
    spec: StudySpec | None = None,
    *,
    ids: Sequence[str] = (),
    shares: pl.DataFrame | Any | None = None,
    factors: Mapping[str, pl.DataFrame] | None = None,
    source: Source = "store",
    store: str | Path | None = None,
    verbose: bool = False,
    **options: Any,
) -> Study:
    """Measure the market's reaction to events, as ``market-reaction run`` does.

    Parameters
    ----------
    events
        The catalog (:func:`events`): a file, a frame or events. Events not chosen by ``ids``
        are not studied but may confound the chosen ones (:mod:`analysis.confounders`).
    prices
        Daily prices of the events' tickers and benchmarks (:func:`prices`; a normalised
        frame is used as is). Default: the price store, read as the command line reads it
        (``source``).
    spec
        How reactions are measured (:class:`~analysis.specs.StudySpec`: model, windows,
        regressors, tests, ...; default: market model, estimation ``-260:-11``, windows
        ``0:0``, ``-1:1``, ``-5:5``).
    ids
        The events to study (default: all).
    shares
        With ``prices``: shares outstanding ``ticker, shares_outstanding, as_of_date`` for
        dollar values (checked as ``market-reaction shares import`` checks a file). With the
        store's prices, the store's shares.
    factors
        Factor sets by name (``date`` + factor columns in decimals) for the factor models;
        default: the store's (``market-reaction factors fetch``).
    source
        Without ``prices``: ``store`` (no network), ``auto`` (the store, topped up from Yahoo
        Finance) or ``yfinance``.
    store
        The price store folder (default ``$MARKET_REACTION_HOME``).
    verbose
        Print the command line's progress lines (stderr).
    **options
        Fields of :class:`~analysis.specs.StudySpec` (``model="market-adjusted"``,
        ``windows=["0:0", "0:5"]``, ``regressors=()``...), applied to ``spec``.

    Returns
    -------
    Study
    """
    catalog = _events(events)
    chosen = select_events(catalog, list(ids))
    for note in almost_numeric(chosen):
        warnings.warn(note, DataWarning, stacklevel=2)
    picked = {e.id for e in chosen}
    context = tuple(e for e in catalog if e.id not in picked)
    spec = _spec(spec or StudySpec(), options)
    if prices is None and shares is not None:
        raise InputError("shares go with prices given as a frame; the store's prices use the store's shares "
                         "(market-reaction shares import)", field="shares")
    root = str(store or home())
    with progress.silenced(not verbose):
        sets = dict(factors) if factors is not None else load_factors(root, spec)
        if prices is None:
            plan, notes = acquire_prices(chosen, spec, root, source)
            needs = plan.needs
            data = load_data(root, needs, claim_tickers(chosen))
        else:
            frame = prices if _is_normalised(prices) else _prices(prices)
            cal = exchange_calendar(spec.calendar)
            needs = price_requirements(align_events(events_frame(chosen), cal), spec, cal)
            claimed = claim_tickers(chosen)
            history = frame.filter(pl.col(S.TICKER).is_in(claimed)).select(S.TICKER, S.DATE, S.CLOSE, S.HIGH, S.LOW)
            given = _study_prices(frame, needs)
            covered = {  # the frames' coverage goes in the report's manifest (no file, no sha256)
                t: (a, b) for t, a, b in given.group_by(S.TICKER).agg(pl.col(S.DATE).min().alias("a"),
                                                                       pl.col(S.DATE).max().alias("b")).iter_rows()
            }
            data = StudyData(given, _shares(shares), history, {}, covered)
            del given
            have = set(frame[S.TICKER].unique().to_list())
            notes = [f"{t}: no prices given" for t in needs[S.TICKER].to_list() if t not in have]
        result = analyze(chosen, spec, data, sets, context)
    for note in notes:
        warnings.warn(note, DataWarning, stacklevel=2)
    inputs = _Inputs(chosen, spec, root, needs, notes, sets, source if prices is None else "frames", data)
    return Study(result, inputs)


def _spec(spec: StudySpec, options: dict[str, Any]) -> StudySpec:
    unknown = sorted(set(options) - {f.name for f in dataclasses.fields(StudySpec)})
    if unknown:
        raise InputError(f"unknown option(s) {', '.join(unknown)}; the study's options are the fields of StudySpec: "
                         + ", ".join(f.name for f in dataclasses.fields(StudySpec)), field=unknown[0])
    return dataclasses.replace(spec, **options)


def _is_normalised(frame: Any) -> bool:
    return isinstance(frame, pl.DataFrame) and frame.schema == pl.Schema({S.TICKER: pl.String} | dict(PRICE_SCHEMA))


def _study_prices(frame: pl.DataFrame, needs: pl.DataFrame) -> pl.DataFrame:
    """The given prices the command line would read from the store
    (:func:`flows.io.prices.read_study_prices`): the needed tickers over the span of ``needs``."""
    if needs.is_empty():
        return frame.clear().select(S.TICKER, S.DATE, *STUDY_COLUMNS)
    return frame.filter(
        pl.col(S.TICKER).is_in(needs[S.TICKER].implode()),
        pl.col(S.DATE).is_between(needs["start"].min(), needs["end"].max()),
    ).select(S.TICKER, S.DATE, *STUDY_COLUMNS)


def _shares(shares: Any) -> pl.DataFrame:
    if shares is None:
        return pl.DataFrame(schema=SHARES_SCHEMA)
    checked = check_shares(_polars(shares, "shares"), "shares")
    return checked.with_columns(pl.lit("frame").alias("source")).select(SHARES_SCHEMA.names())


@dataclasses.dataclass(frozen=True)
class _Inputs:
    """What a study was run on (for its report's manifest)."""

    events: tuple[EventSpec, ...]
    spec: StudySpec
    store: str
    needs: pl.DataFrame
    notes: list[str]
    factors: dict[str, pl.DataFrame]
    source: str
    data: StudyData  # the store files' versions the study read, or the frames' coverage


class Study:
    """The results of one study (read-only).

    Attributes
    ----------
    spec, events, abnormal_returns, models, car, tests, regressions, quality, paths,
    confounders, outliers, claims
        The tidy polars frames of :class:`analysis.engine.StudyResult` (the Parquet files
        of a report), keyed by ``event_id, ticker``.
    result
        The :class:`~analysis.engine.StudyResult` itself.
    """

    def __init__(self, result: StudyResult, inputs: _Inputs) -> None:
        self._result = result
        self._inputs = inputs

    def __getattr__(self, name: str) -> Any:
        if name in _FRAMES:
            return getattr(self._result, name)
        raise AttributeError(f"{type(self).__name__!r} has no attribute {name!r}")

    def __dir__(self) -> list[str]:
        return sorted({*super().__dir__(), *_FRAMES})

    def __setattr__(self, name: str, value: Any) -> None:
        if hasattr(self, "_inputs"):
            raise AttributeError("a Study is read-only")
        super().__setattr__(name, value)

    @property
    def result(self) -> StudyResult:
        return self._result

    @property
    def warnings(self) -> list[str]:
        """One line per event row that was skipped or flagged, with its reason."""
        return self._result.warnings

    def __repr__(self) -> str:
        counts = self._result.events[STATUS].value_counts().sort(STATUS).rows()
        status = ", ".join(f"{n} {s}" for s, n in counts)
        return f"<Study of {len(self._inputs.events)} event(s), {self._inputs.spec.model} model: {status}>"

    @cached_property
    def _summary(self) -> GT:
        from flows.reporting.tables import gt, summary_table

        return gt(summary_table(self._result))

    def summary(self) -> GT:
        """The report's reaction table: one row per event x ticker (of a large study, the
        rows the report lists), with day 0, the day-0 abnormal return and per window the
        CAR, t, p and dollar value, as a great_tables table (renders in Jupyter)."""
        return self._summary

    def _repr_html_(self) -> str:
        return self._summary.as_raw_html()

    def plot(self, event: str) -> Figure:
        """The CAR path of ``event``'s tickers with the 95% band of its primary tickers, its
        confounders' days and the event windows (the report's ``plots/car-<event>.png``), as a
        matplotlib figure.

        Raises
        ------
        InputError
            The event has no path: unknown, skipped, or beyond the first 50 event rows
            (the paths the engine computes).
        """
        from flows.reporting.plots import event_figure

        paths = self._result.paths.filter(pl.col(S.EVENT_ID) == event).drop_nulls(S.CAR)
        if paths.is_empty():
            known = self._result.paths.drop_nulls(S.CAR)[S.EVENT_ID].unique(maintain_order=True).to_list()
            raise InputError(f"no CAR path for {event!r}; events with one: {', '.join(known[:10]) or 'none'}",
                             field="event")
        return event_figure(self._result, event)

    def to_report(self, path: str | Path, *, latex: bool = False, xlsx: bool = False) -> Path:
        """Write the report folder ``market-reaction run --out PATH`` writes (tables, plots,
        briefs, Parquet and CSV files, the manifest; ``report.xlsx`` with ``xlsx``), atomically;
        return its path."""
        i = self._inputs
        manifest = run_manifest(
            None, i.events, i.spec, i.source, PriceStore(Path(i.store)), i.needs, i.notes, i.factors,
            result=self._result, data=i.data,
        )
        if i.source == "frames":
            manifest["store"] = None
        with progress.silenced():
            return Path(publish_report(self._result, str(path), manifest, report_title(i.events), latex, xlsx=xlsx))


_FRAMES = frozenset(f.name for f in dataclasses.fields(StudyResult))

