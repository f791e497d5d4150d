"""Getting the prices a study needs into the store.

Sources (``--source``):

``store``
    Use what the store holds; fetch nothing.
``auto`` (default)
    Fetch from Yahoo only the ranges the store does not cover yet; if Yahoo cannot be
    reached, go on with the store and say what is missing.
``yfinance``
    Fetch the whole needed range again (refreshing the store), then read the store.

Ranges end at the last session whose close has passed, so a bar of a session still trading
is never stored as final.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass, field
from datetime import date, timedelta

import polars as pl

from analysis import schema as S
from analysis.calendar import SessionCalendar
from flows.params import Source
from flows.io.store import PriceStore

SHARES_LOOKBACK = timedelta(days=550)
RETRIES = 2
"""Retries of a Yahoo download whose failure may pass (a timeout, a rate limit, a server error)."""


@dataclass(frozen=True)
class FetchBatch:
    """Tickers fetched together over one calendar range (one Yahoo download)."""

    tickers: tuple[str, ...]
    start: date
    end: date


@dataclass(frozen=True)
class PricePlan:
    needs: pl.DataFrame  # ticker, start, end (dates the study needs)
    batches: tuple[FetchBatch, ...] = ()
    notes: tuple[str, ...] = field(default=())


def plan_fetches(
    store: PriceStore, needs: pl.DataFrame, source: Source, cal: SessionCalendar, last_closed: date | None
) -> PricePlan:
    """Decide what to download: per ticker the missing (``auto``) or whole (``yfinance``) range,
    clipped to the last closed session and trimmed to ranges holding at least one session;
    tickers with the same range share one download."""
    if source == "store" or last_closed is None:
        return PricePlan(needs)
    ranges: dict[tuple[date, date], list[str]] = {}
    notes = []
    sessions = cal.sessions[S.DATE]
    for ticker, start, end in needs.select(S.TICKER, "start", "end").iter_rows():  # one row per ticker
        end = min(end, last_closed)
        if start > end:
            notes.append(f"{ticker}: the needed prices start after the last closed session {last_closed}")
            continue
        wanted = [(start, end)] if source == "yfinance" else store.missing_ranges(ticker, start, end)
        for lo, hi in wanted:
            inside = sessions.filter(sessions.is_between(lo, hi))
            if inside.len():
                ranges.setdefault((lo, hi), []).append(ticker)
    batches = tuple(FetchBatch(tuple(t), lo, hi) for (lo, hi), t in sorted(ranges.items()))
    return PricePlan(needs, batches, tuple(notes))


def download(batch: FetchBatch, retries: int = RETRIES):
    """Download one batch from Yahoo (yfinance adapter); returns its ``FetchResult``. Failures
    that may pass are retried after ``$MARKET_REACTION_RETRY_BACKOFF`` seconds (default
    :data:`flows.settings.YAHOO_BACKOFF`), doubled per retry; an absent network is not retried."""
    from flows import settings
    from flows.io import yahoo

    yahoo.configure_cache(settings.cache_dir())
    return yahoo.fetch_prices(batch.tickers, batch.start, batch.end, retries=retries,
                              backoff=settings.retry_backoff(settings.YAHOO_BACKOFF))


def store_download(store: PriceStore, batch: FetchBatch, prices: pl.DataFrame) -> list[str]:
    """Write the tickers of ``batch`` that came back, all or none; their coverage becomes the batch's range.
    Onto a history imported without ``adj_close``, the rows are stored with their close as
    ``adj_close`` too (one basis per history: :meth:`flows.io.store.PriceStore.upsert`)."""
    parts = prices.partition_by(S.TICKER, as_dict=True, include_key=False)
    store.upsert_all([(ticker, frame, (batch.start, batch.end), "yfinance", False) for (ticker,), frame in parts.items()])
    return [ticker for ticker, in parts]


def ensure_shares(store: PriceStore, tickers: list[str], first: date, last: date, source: Source) -> dict[str, str]:
    """Fetch shares outstanding from Yahoo for tickers the store has none of (all of them with
    ``source='yfinance'``). Returns ticker -> reason for those still without."""
    if source == "store":
        return {}
    have = set(store.read_shares(tickers)[S.TICKER].to_list())
    wanted = [t for t in tickers if source == "yfinance" or t not in have]
    failures = {}
    if wanted:
        from analysis.errors import PriceSourceError
        from flows import settings
        from flows.io import yahoo

        yahoo.configure_cache(settings.cache_dir())
        for t in wanted:  # one Yahoo request per ticker (yfinance has no batch endpoint for this)
            try:
                store.upsert_shares(yahoo.fetch_shares(t, first - SHARES_LOOKBACK, last), "yfinance")
            except PriceSourceError as e:
                if t not in have:
                    failures[t] = e.reason
    return failures


STUDY_COLUMNS = (S.CLOSE, S.ADJ_CLOSE, S.VOLUME)
"""The stored price columns a study reads (besides ``date``): returns, market caps, volume."""


@dataclass(eq=False)
class StudyData:
    """What a run reads of the store, each price file once (:func:`read_study_data`): the
    study's prices and shares outstanding (as :func:`read_study_prices`), the whole history of
    the claim tickers, and each file's sha256 and covered range for the manifest."""

    prices: pl.DataFrame | None
    shares: pl.DataFrame | None
    history: pl.DataFrame
    sha256: dict[str, str]
    covered: dict[str, tuple[date, date] | None]

    def take(self) -> tuple[pl.DataFrame, pl.DataFrame]:
        """The prices and shares, handed over once: this object no longer holds them, so the
        engine frees the raw prices as soon as it has laid them out."""
        if self.prices is None or self.shares is None:
            raise RuntimeError("the prices were already taken")
        taken, self.prices, self.shares = (self.prices, self.shares), None, None
        return taken


def read_study_data(store: PriceStore, needs: pl.DataFrame, history: Collection[str]) -> StudyData:
    """:class:`StudyData` of the tickers in ``needs`` over its whole span, with the whole
    history of ``history`` (:meth:`flows.io.store.PriceStore.snapshot`)."""
    chosen = needs[S.TICKER].to_list()
    span = (needs["start"].min(), needs["end"].max()) if chosen else (None, None)
    snap = store.snapshot(chosen, *span, columns=STUDY_COLUMNS, history=list(history))
    return StudyData(snap.prices, store.read_shares(chosen), snap.history, snap.sha256, snap.covered)


def read_study_prices(
    store: PriceStore, needs: pl.DataFrame, tickers: Collection[str] | None = None
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """The prices (``ticker, date, close, adj_close, volume``) and shares outstanding of the
    tickers in ``needs`` (``ticker, start, end``, from :func:`analysis.engine.price_requirements`),
    or of those of them in ``tickers``, over the whole span of ``needs``: what ``run`` hands to
    :func:`analysis.engine.run_study` (the same span for any subset, so a ticker's prices do
    not depend on the subset)."""
    chosen = [t for t in needs[S.TICKER].to_list() if tickers is None or t in tickers]
    if not chosen:
        return store.read([], columns=STUDY_COLUMNS), store.read_shares([])
    return store.read(chosen, needs["start"].min(), needs["end"].max(), columns=STUDY_COLUMNS), store.read_shares(chosen)
