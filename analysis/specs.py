"""Small frozen, validated specifications: events, windows and study parameters.

Everything a run depends on is in an :class:`EventSpec` (what happened) or the
:class:`StudySpec` (how to measure it). Both validate themselves on construction and raise
:class:`~analysis.errors.InputError` naming the bad field.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, fields
from datetime import date, datetime, timezone
from functools import lru_cache
from typing import Any, Literal, get_args

import numpy as np
import polars as pl

from analysis import schema as S
from analysis.errors import InputError
from analysis.options import BATCH_ROWS, MODELS, PLAIN_MODELS, POOLED_COVS, RETURN_KINDS, ModelName, PooledCov, ReturnKind

Timing = Literal["pre-open", "intraday", "after-close", "unknown"]
TIMINGS: tuple[str, ...] = get_args(Timing)
FACTOR_MODELS: dict[str, tuple[tuple[str, str], ...]] = {
    # model: the (factor set, column) of each regressor besides the constant
    "ff3": (("ff3", S.MKT_RF), ("ff3", "smb"), ("ff3", "hml")),
    "carhart4": (("ff3", S.MKT_RF), ("ff3", "smb"), ("ff3", "hml"), ("mom", "mom")),
    "ff5": (("ff5", S.MKT_RF), ("ff5", "smb"), ("ff5", "hml"), ("ff5", "rmw"), ("ff5", "cma")),
}
"""Regressors of the Fama-French and Carhart models, from the factor sets ``market-reaction
factors fetch ff3|ff5|mom`` stores."""
DEFAULT_RISK_FREE = {"capm": "ff3", "ff3": "ff3", "carhart4": "ff3", "ff5": "ff5"}
"""The factor set whose ``rf`` column is the risk-free rate when ``risk_free`` is not given."""
Role = Literal["primary", "related"]

CHAR_PREFIX = "char."  # EventSpec.extra names of characteristics (regressors): "char.<name>"
DEFAULT_BENCHMARK = "^GSPC"
DEFAULT_GROUP = "all"
EVENT_ID_PATTERN = re.compile(r"^[a-z0-9][a-z0-9_-]{0,127}$")
TICKER_PATTERN = re.compile(r"^[A-Z0-9^][A-Z0-9.^=\-]{0,31}$")
FACTOR_SET_PATTERN = re.compile(r"^[a-z0-9][a-z0-9_-]{0,63}$")  # a safe file name
FACTOR_NAME_PATTERN = re.compile(r"^[a-z][a-z0-9_]{0,63}$")  # a column of a factor set


def check_factor_set(name: object, *, field: str = "factor_set") -> str:
    """Check the name of a factor set: lowercase letters, digits, ``-`` and ``_`` (a file name)."""
    if not isinstance(name, str) or not FACTOR_SET_PATTERN.match(name):
        raise InputError(
            f"expected a factor set name of lowercase letters, digits, '-' and '_' (such as ff3), got {name!r}",
            field=field,
        )
    return name


def parse_factors_option(text: str, *, field: str = "factors") -> tuple[str, tuple[str, ...]]:
    """Parse ``"NAME:col1,col2"`` (a stored factor set and the columns to use as regressors)."""
    name, sep, cols = str(text).partition(":")
    columns = tuple(c.strip().lower() for c in cols.split(",") if c.strip())
    if not sep or not columns:
        raise InputError(f"expected NAME:COLUMN[,COLUMN...], such as mine:mkt_rf,smb; got {text!r}", field=field)
    return check_factor_set(name.strip(), field=field), columns


_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def check_text(text: object, *, field: str, event: str | None = None, allowed: str = "\t\n\r") -> str:
    """``text`` (a user's words: group names, descriptions), refused when it holds a control
    character other than those ``allowed`` (an ANSI escape would reach the terminal, the LaTeX
    tables and the pages; tabs and line breaks are escaped where they are shown)."""
    if not isinstance(text, str):
        raise InputError(f"expected text, got {text!r}", field=field, event=event)
    bad = next((c for c in _CONTROL.findall(text) if c not in allowed), None)
    if bad is not None:
        raise InputError(f"contains the control character {bad!r} (an escape code?); remove it", field=field, event=event)
    return text


@lru_cache(maxsize=1 << 16)
def _normal_ticker(ticker: str) -> str | None:
    """``ticker`` stripped and in upper case if that is a valid symbol, else None (cached: a
    catalog of 10^5 rows names a few thousand tickers)."""
    t = ticker.strip().upper()
    return t if TICKER_PATTERN.fullmatch(t) else None


def check_ticker(ticker: str, *, field: str = "ticker", event: str | None = None) -> str:
    """Normalise a ticker to upper case and check it looks like a Yahoo symbol."""
    if not isinstance(ticker, str):
        raise InputError(f"expected a ticker symbol (text), got {ticker!r}", field=field, event=event)
    t = _normal_ticker(ticker)
    if t is None:
        raise InputError(
            f"expected a ticker symbol such as 'AMZN', '^GSPC' or 'BRK-B' "
            f"(letters, digits, '.', '-', '=', '^'), got {ticker!r}",
            field=field, event=event,
        )
    return t


MAX_EVENT_DAY = 10_000
"""Largest |event day| of a window: 10,000 sessions, about 40 years of trading."""


@dataclass(frozen=True, slots=True)
class Window:
    """An inclusive window of event days ``[start, end]`` (sessions relative to day 0)."""

    start: int
    end: int

    def __post_init__(self) -> None:
        if isinstance(self.start, bool) or isinstance(self.end, bool) or not (
            isinstance(self.start, int) and isinstance(self.end, int)
        ):
            raise InputError(f"window bounds must be integers, got {self.start!r}:{self.end!r}", field="window")
        if max(abs(self.start), abs(self.end)) > MAX_EVENT_DAY:
            raise InputError(f"window bounds must lie within ±{MAX_EVENT_DAY} sessions (about 40 years), got "
                             f"{self.start}:{self.end}", field="window")
        if self.start > self.end:
            raise InputError(f"window start {self.start} is after its end {self.end}", field="window")

    @classmethod
    def parse(cls, text: str, *, field: str = "window") -> Window:
        """Parse ``"-1:1"`` (also ``"-1,1"`` or ``"[-1,+1]"``) into a window."""
        m = re.fullmatch(r"\s*\[?\s*([+-]?\d+)\s*[:,]\s*([+-]?\d+)\s*\]?\s*", str(text))
        if not m:
            raise InputError(f"expected START:END in sessions, such as -1:1, got {text!r}", field=field)
        try:
            return cls(int(m.group(1)), int(m.group(2)))
        except InputError as e:
            raise InputError(e.reason, field=field) from None

    @property
    def length(self) -> int:
        return self.end - self.start + 1

    @property
    def label(self) -> str:
        return f"[{self.start:+d},{self.end:+d}]".replace("+0", "0")

    def __str__(self) -> str:
        return f"{self.start}:{self.end}"


DEFAULT_WINDOWS = (Window(0, 0), Window(-1, 1), Window(-5, 5))


@dataclass(frozen=True, slots=True)
class StudySpec:
    """How reactions are measured.

    Attributes
    ----------
    estimation
        Window of event days on which the normal-return model is fitted. Default
        ``[-260, -11]`` (250 sessions). Text such as ``"-260:-11"`` is parsed
        (:meth:`Window.parse`).
    windows
        Event windows over which abnormal returns are cumulated. Default ``[0,0]``,
        ``[-1,+1]``, ``[-5,+5]``. Windows or their text (``["0:0", "-1:1"]``).
    model
        Normal-return model: ``market`` (OLS market model), ``constant-mean``,
        ``market-adjusted`` (alpha = 0, beta = 1), ``capm`` (market model on excess returns
        over the risk-free rate), ``ff3`` (Fama-French three factors), ``carhart4`` (ff3 +
        momentum), ``ff5`` (Fama-French five factors) or ``factors`` (the columns ``factors``
        of the factor set ``factor_set``). See :mod:`analysis.models`.
    returns
        ``simple`` returns from adjusted closes (default) or ``log`` returns.
    min_estimation_obs
        Fewer valid estimation returns than this and the event's statistics are null with a
        reason (default 120).
    calendar
        Exchange calendar code of exchange-calendars (default ``XNYS``).
    factor_set, factors
        With ``model="factors"`` only: the stored factor set and its columns to use as
        regressors (lowercase names; ``mkt_rf`` is reported as ``beta``, any other column
        ``f`` as ``beta_f``).
    risk_free
        The factor set whose ``rf`` column is the risk-free rate of excess returns. ``capm``,
        ``ff3`` and ``carhart4`` default to ``ff3``, ``ff5`` to ``ff5``; with ``factors``
        the regression is on raw returns unless it is given; the other models take none.
    drop_confounded
        Leave out of the estimation window the event-window days (``report_days`` around
        their day 0) of every other catalog event on the same ticker (see
        :mod:`analysis.confounders`). Default False: they are kept, and the event is flagged.
    regressors
        Characteristics (catalog names, without ``char.``) for the cross-sectional regression
        of CARs (:mod:`analysis.regression`); None (default): every numeric characteristic of
        the catalog; ``()``: none.
    pooled_cov
        Standard errors of the pooled dummy-variable regression: ``cluster`` by date
        (default) or ``hac`` within firm.
    tests
        The group tests to run (names of :data:`analysis.inference.TEST_NAMES`); None
        (default): all of them.
    batch_rows
        Event rows per batch (default :data:`BATCH_ROWS`). Changes memory and parallelism,
        never a number, so it is not in :meth:`as_dict` (the parameters that decide numbers).
    """

    estimation: Window = Window(-260, -11)
    windows: tuple[Window, ...] = DEFAULT_WINDOWS
    model: ModelName = "market"
    returns: ReturnKind = "simple"
    min_estimation_obs: int = 120
    calendar: str = "XNYS"
    factor_set: str | None = None
    factors: tuple[str, ...] = ()
    risk_free: str | None = None
    drop_confounded: bool = False
    regressors: tuple[str, ...] | None = None
    pooled_cov: PooledCov = "cluster"
    tests: tuple[str, ...] | None = None
    batch_rows: int = BATCH_ROWS

    def __post_init__(self) -> None:
        if isinstance(self.estimation, str):
            object.__setattr__(self, "estimation", Window.parse(self.estimation, field="estimation"))
        windows = (self.windows,) if isinstance(self.windows, (str, Window)) else self.windows
        windows = (w if isinstance(w, Window) else Window.parse(w, field="windows") for w in windows)
        object.__setattr__(self, "windows", tuple(dict.fromkeys(windows)))
        if not isinstance(self.drop_confounded, bool):
            raise InputError(f"expected true or false, got {self.drop_confounded!r}", field="drop_confounded")
        if not self.windows:
            raise InputError("at least one event window is needed", field="windows")
        if self.model not in MODELS:
            raise InputError(f"expected one of {', '.join(MODELS)}, got {self.model!r}", field="model")
        self._check_factors()
        self._check_group_options()
        if self.returns not in RETURN_KINDS:
            raise InputError(f"expected one of {', '.join(RETURN_KINDS)}, got {self.returns!r}", field="returns")
        first = min(w.start for w in self.windows)
        if self.estimation.end >= first:
            raise InputError(
                f"the estimation window {self.estimation} must end before the earliest event window "
                f"starts (day {first})",
                field="estimation",
            )
        least = max(3, self.n_params + 1)
        if self.estimation.length < least:
            raise InputError(
                f"the estimation window {self.estimation} has {self.estimation.length} session(s); the {self.model} "
                f"model needs at least {least}", field="estimation",
            )
        if not isinstance(self.min_estimation_obs, int) or not least <= self.min_estimation_obs <= self.estimation.length:
            raise InputError(
                f"expected an integer between {least} and the estimation length {self.estimation.length}"
                + (f" (the {self.model} model has {self.n_params} parameters)" if least > 3 else "")
                + f", got {self.min_estimation_obs!r}",
                field="min_estimation_obs",
            )

    def _check_factors(self) -> None:
        if self.model == "factors":
            if self.factor_set is None or not self.factors:
                raise InputError("the factors model needs a factor set and its columns (NAME:col1,col2)", field="factors")
            check_factor_set(self.factor_set)
            if isinstance(self.factors, str):
                raise InputError(f"expected a list of column names, got {self.factors!r}", field="factors")
            factors = tuple(f.strip().lower() if isinstance(f, str) else f for f in self.factors)
            for f in factors:
                if not isinstance(f, str) or not FACTOR_NAME_PATTERN.match(f):
                    raise InputError(
                        f"expected column names of lowercase letters, digits and '_', starting with a letter, got {f!r}",
                        field="factors",
                    )
            if S.RF in factors:
                raise InputError("rf is the risk-free rate, not a regressor; use risk_free (--risk-free NAME)", field="factors")
            if len(set(factors)) < len(factors):
                raise InputError(f"a column is listed twice in {', '.join(factors)}", field="factors")
            object.__setattr__(self, "factors", factors)
        elif self.factor_set is not None or self.factors:
            raise InputError(
                f"a factor set and columns are only used with model 'factors', not {self.model!r}", field="factors"
            )
        if self.risk_free is None:
            object.__setattr__(self, "risk_free", DEFAULT_RISK_FREE.get(self.model))
        elif self.model in PLAIN_MODELS:
            raise InputError(
                f"the {self.model} model uses raw returns; a risk-free rate goes with capm, ff3, carhart4, ff5 "
                "or factors",
                field="risk_free",
            )
        else:
            check_factor_set(self.risk_free, field="risk_free")

    def _check_group_options(self) -> None:
        if self.regressors is not None:
            if isinstance(self.regressors, str) or not all(isinstance(r, str) for r in self.regressors):
                raise InputError(f"expected a list of characteristic names, got {self.regressors!r}", field="regressors")
            object.__setattr__(self, "regressors", tuple(dict.fromkeys(r.removeprefix(CHAR_PREFIX) for r in self.regressors)))
        if self.pooled_cov not in POOLED_COVS:
            raise InputError(f"expected one of {', '.join(POOLED_COVS)}, got {self.pooled_cov!r}", field="pooled_cov")
        if self.tests is not None:
            from analysis.inference import check_tests  # inference reads specs: imported when needed

            object.__setattr__(self, "tests", check_tests([self.tests] if isinstance(self.tests, str) else self.tests))
        if isinstance(self.batch_rows, bool) or not isinstance(self.batch_rows, int) or self.batch_rows < 1:
            raise InputError(f"expected a positive number of event rows per batch, got {self.batch_rows!r}",
                             field="batch_rows")

    @property
    def factor_columns(self) -> tuple[tuple[str, str], ...]:
        """``(factor set, column)`` of every factor regressor, in order (empty without factors)."""
        if self.model == "factors":
            return tuple((self.factor_set, f) for f in self.factors)  # type: ignore[misc]
        return FACTOR_MODELS.get(self.model, ())

    @property
    def factor_sets(self) -> tuple[str, ...]:
        """The stored factor sets the study reads: those of the regressors, then the risk-free one."""
        sets = [s for s, _ in self.factor_columns] + ([self.risk_free] if self.risk_free else [])
        return tuple(dict.fromkeys(sets))

    @property
    def n_params(self) -> int:
        """Parameters the normal-return model estimates (market-adjusted: its mean, for σ̂'s
        degrees of freedom)."""
        if self.model in ("constant-mean", "market-adjusted"):
            return 1
        if self.model in ("market", "capm"):
            return 2
        return 1 + len(self.factor_columns)

    @property
    def first_day(self) -> int:
        """First event day the study needs (start of the estimation window)."""
        return self.estimation.start

    @property
    def report_days(self) -> Window:
        """Event days reported in the abnormal-return table: the span of all event windows."""
        return Window(min(w.start for w in self.windows), max(w.end for w in self.windows))

    def as_dict(self) -> dict[str, Any]:
        """The parameters that decide the numbers, as JSON values (a report's manifest, a
        refresh's fingerprint)."""
        return {
            "estimation": str(self.estimation),
            "windows": [str(w) for w in self.windows],
            "model": self.model,
            "returns": self.returns,
            "min_estimation_obs": self.min_estimation_obs,
            "calendar": self.calendar,
            "factor_set": self.factor_set,
            "factors": list(self.factors),
            "risk_free": self.risk_free,
            "drop_confounded": self.drop_confounded,
            "regressors": None if self.regressors is None else list(self.regressors),
            "pooled_cov": self.pooled_cov,
            "tests": None if self.tests is None else list(self.tests),
        }


@dataclass(frozen=True, slots=True)
class EventSpec:
    """One announcement: who, when, what.

    Attributes
    ----------
    id
        Safe file name: lowercase letters, digits, ``-`` and ``_``.
    tickers
        The firms the announcement is about (upper-case Yahoo symbols).
    announced
        A date, or a timezone-aware datetime.
    timing
        ``pre-open``, ``intraday``, ``after-close`` or ``unknown`` (relative to the regular
        session of the announcement's local date on the exchange).
    benchmark
        Market index or ETF the normal-return model uses (default ``^GSPC``).
    related
        Spillover tickers (partners, suppliers, rivals) analysed with the same model.
    group
        Events of one group are tested together (default group ``all``).
    extra
        Further named values from the catalog (characteristics, claims), as ``(name, value)``
        pairs.
    """

    id: str
    tickers: tuple[str, ...]
    announced: date | datetime
    timing: Timing = "unknown"
    benchmark: str = DEFAULT_BENCHMARK
    related: tuple[str, ...] = ()
    group: str = DEFAULT_GROUP
    description: str = ""
    source: str = ""
    extra: tuple[tuple[str, Any], ...] = field(default=())

    def __post_init__(self) -> None:
        ev = self.id if isinstance(self.id, str) else None
        if not isinstance(self.id, str) or not EVENT_ID_PATTERN.fullmatch(self.id):
            raise InputError(
                "expected a safe file name: lowercase letters, digits, '-' and '_', starting with a "
                f"letter or digit, at most 128 characters; got {self.id!r}",
                field="id",
            )
        if isinstance(self.tickers, str) or not self.tickers:
            raise InputError("expected a non-empty list of ticker symbols", field="tickers", event=ev)
        tickers = tuple(dict.fromkeys(check_ticker(t, field="tickers", event=ev) for t in self.tickers))
        related = tuple(
            t for t in dict.fromkeys(check_ticker(t, field="related", event=ev) for t in self.related)
            if t not in tickers
        )
        object.__setattr__(self, "tickers", tickers)
        object.__setattr__(self, "related", related)
        object.__setattr__(self, "benchmark", check_ticker(self.benchmark, field="benchmark", event=ev))
        if self.timing not in TIMINGS:
            raise InputError(
                f"expected one of {', '.join(TIMINGS)}, got {self.timing!r}", field="timing", event=ev
            )
        if isinstance(self.announced, datetime):
            if self.announced.tzinfo is None or self.announced.utcoffset() is None:
                raise InputError(
                    "a time of day needs a zone, e.g. 2025-10-30T16:01:00-04:00 or "
                    "'2025-10-30 16:01 America/New_York'",
                    field="announced", event=ev,
                )
        elif not isinstance(self.announced, date):
            raise InputError(f"expected a date or datetime, got {self.announced!r}", field="announced", event=ev)
        if not isinstance(self.group, str) or not self.group.strip():
            raise InputError("expected a non-empty group name", field="group", event=ev)
        for name in ("group", "description", "source"):
            check_text(getattr(self, name), field=name, event=ev)

    @classmethod
    def prechecked(
        cls, id: str, tickers: tuple[str, ...], announced: date | datetime, timing: Timing, benchmark: str,
        related: tuple[str, ...], group: str, description: str, source: str, extra: tuple[tuple[str, Any], ...],
    ) -> EventSpec:
        """An event from values that are already what ``__post_init__`` checks and makes of
        them (normalised tickers and benchmark, a known timing, ...), without checking them
        again: for :func:`analysis.catalog.parse_catalog_csv`, which checks a catalog's
        columns once per distinct value (10^5 events in a fraction of a second)."""
        event = object.__new__(cls)
        for put, value in zip(_PUT, (id, tickers, announced, timing, benchmark, related, group, description, source, extra),
                              strict=True):
            put(event, value)
        return event

    @property
    def announced_text(self) -> str:
        return self.announced.isoformat()


_PUT = [EventSpec.__dict__[f.name].__set__ for f in fields(EventSpec)]  # the slots' setters, in field order


def events_frame(events: list[EventSpec] | tuple[EventSpec, ...]) -> pl.DataFrame:
    """One row per event x ticker (primary tickers first, then related ones).

    Columns: ``event_id, ticker, role, benchmark, group, announced`` (ISO text),
    ``announced_date`` (the announcement's date in its own zone, or the date given),
    ``announced_utc`` (UTC datetime, null when only a date is known), ``timing``, then one
    column ``char.<name>`` per characteristic of any event (Float64 when every value is a
    number, else String; null where an event lacks it).

    Built column by column: each event's values once, repeated over its tickers by one gather
    (a catalog of 10^5 events in a fraction of a second).
    """
    primary = np.array([len(ev.tickers) for ev in events], dtype=np.int64)
    counts = primary + np.array([len(ev.related) for ev in events], dtype=np.int64)
    index = pl.Series(np.repeat(np.arange(len(events), dtype=np.uint32), counts))
    position = np.arange(index.len()) - np.repeat(np.cumsum(counts) - counts, counts)  # within the event
    timed = [ev.announced if isinstance(ev.announced, datetime) else None for ev in events]
    chars = [{k: v for k, v in ev.extra if k.startswith(CHAR_PREFIX)} for ev in events]
    columns = [
        pl.Series(S.EVENT_ID, [ev.id for ev in events], dtype=pl.String),
        pl.Series(S.TICKER, [t for ev in events for t in (*ev.tickers, *ev.related)], dtype=pl.String),
        pl.Series(S.ROLE, np.where(position < np.repeat(primary, counts), "primary", "related"), dtype=pl.String),
        pl.Series(S.BENCHMARK, [ev.benchmark for ev in events], dtype=pl.String),
        pl.Series(S.GROUP, [ev.group for ev in events], dtype=pl.String),
        pl.Series(S.ANNOUNCED, [ev.announced_text for ev in events], dtype=pl.String),
        pl.Series("announced_date", [ev.announced if t is None else t.date() for ev, t in zip(events, timed)],
                  dtype=pl.Date),
        pl.Series("announced_utc", [None if t is None else t.astimezone(timezone.utc) for t in timed],
                  dtype=pl.Datetime("us", "UTC")),
        pl.Series(S.TIMING, [ev.timing for ev in events], dtype=pl.String),
    ]
    for name in dict.fromkeys(k for c in chars for k in c):  # one column per characteristic
        values = [c.get(name) for c in chars]
        numeric = all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values if v is not None)
        columns.append(pl.Series(name, values, dtype=pl.Float64 if numeric else pl.String, strict=False))
    per_row = {S.TICKER, S.ROLE}
    return pl.DataFrame([c if c.name in per_row else c.gather(index) for c in columns])


def numeric_characteristics(events: pl.DataFrame) -> list[str]:
    """The characteristics (names without ``char.``) of an :func:`events_frame` that are
    numbers for every event that has them: the possible regressors."""
    return [c.removeprefix(CHAR_PREFIX) for c, t in events.schema.items() if c.startswith(CHAR_PREFIX) and t == pl.Float64]
