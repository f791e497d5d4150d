"""Factor data for the factor models: the factor frame a study reads, and the daily risk-free
rate from Treasury-bill quotes.

A *factor set* is a frame ``date`` + one Float64 column per factor, in decimals per session
(0.0123 = 1.23%), such as the Fama-French sets ``ff3`` (``mkt_rf, smb, hml, rf``), ``ff5``
(``mkt_rf, smb, hml, rmw, cma, rf``) and ``mom`` (``mom``), a set of the user's own factors, or
a risk-free rate converted from T-bill quotes (``rf``, see :func:`tbill_daily_rate`). Factors
are per date, not per ticker; a session without a value makes that day unusable for the
models that need the factor.
"""

from __future__ import annotations

from collections.abc import Mapping

import polars as pl

from analysis import schema as S
from analysis.calendar import SessionCalendar
from analysis.errors import DataUnavailableError, InputError
from analysis.specs import StudySpec

TBILL_DAYS = 91  # the 13-week bill that FRED's DTB3 quotes
TBILL_BASIS = 360.0  # discount yields are quoted on a 360-day year
STALE_QUOTE_DAYS = 7  # a quote older than this (calendar days) before a session is not carried forward


def study_factors(sets: Mapping[str, pl.DataFrame], spec: StudySpec) -> pl.DataFrame | None:
    """The factor values a study needs, one row per date.

    Parameters
    ----------
    sets
        Factor sets by name (``date`` + factor columns), at least those of
        ``spec.factor_sets``.
    spec
        Study parameters: the model's factor columns and the risk-free set.

    Returns
    -------
    pl.DataFrame or None
        ``date``, each factor column of the model under its own name, and ``rf`` (the ``rf``
        column of ``spec.risk_free``) for excess-return models; the union of the dates of
        the sets, null where a set has no value. None when the model reads no factors.

    Raises
    ------
    DataUnavailableError
        A needed set is not in ``sets``.
    InputError
        A set lacks a needed column (field ``factors``).
    """
    wanted = [*spec.factor_columns, *([(spec.risk_free, S.RF)] if spec.risk_free else [])]
    if not wanted:
        return None
    missing = [name for name in spec.factor_sets if name not in sets]
    if missing:
        raise DataUnavailableError(f"the {spec.model} model needs the factor set(s) {', '.join(missing)}, which were not given")
    parts: list[pl.DataFrame] = []
    for name in spec.factor_sets:
        columns = [c for s, c in wanted if s == name]
        absent = [c for c in columns if c not in sets[name].columns]
        if absent:
            have = ", ".join(c for c in sets[name].columns if c != S.DATE) or "none"
            raise InputError(
                f"the factor set {name!r} has no column {', '.join(absent)} (it has: {have})", field="factors"
            )
        parts.append(sets[name].select(pl.col(S.DATE), *(pl.col(c).cast(pl.Float64) for c in columns)))
    frame = parts[0]
    for part in parts[1:]:
        frame = frame.join(part, on=S.DATE, how="full", coalesce=True)
    return frame.select(S.DATE, *(c for _, c in wanted)).sort(S.DATE)


def factor_sessions(factors: pl.DataFrame, cal: SessionCalendar) -> pl.DataFrame:
    """``factors`` keyed by session index instead of date (dates that are not sessions are dropped)."""
    return (
        factors.join(cal.sessions.select(S.DATE, S.SESSION), on=S.DATE, how="inner")
        .drop(S.DATE)
        .select(S.SESSION, pl.exclude(S.SESSION))
        .sort(S.SESSION)
    )


def tbill_daily_rate(quotes: pl.DataFrame, cal: SessionCalendar, *, column: str = "dtb3") -> pl.DataFrame:
    """The risk-free return of each session from 3-month T-bill discount yields (FRED DTB3).

    A discount yield ``d`` (percent per year, 360-day basis) prices the 91-day bill at
    ``P = 1 − (d/100)·91/360``, so holding it returns ``1/P`` over 91 calendar days. The
    return from the close of session ``t−1`` to the close of session ``t`` accrues that rate
    over the ``n_t`` calendar days between the two sessions (3 over a weekend)::

        rf_t = (1 − (d_{t−1}/100)·91/360) ^ (−n_t / 91) − 1

    with ``d_{t−1}`` the latest quote published on or before session ``t−1`` (the rate known
    when the money is invested; quotes missing on bond-market holidays are carried forward,
    by at most 7 calendar days). Sessions from the first quote's date to the last quote's
    date are covered; a session without a usable quote gets null.

    Parameters
    ----------
    quotes
        ``date`` and ``column`` (percent per year; null on holidays).
    cal
        The exchange calendar whose sessions get a rate.

    Returns
    -------
    pl.DataFrame
        ``date, rf`` (decimal per session), one row per covered session.
    """
    known = quotes.select(pl.col(S.DATE), pl.col(column).cast(pl.Float64).alias("_d")).drop_nulls().sort(S.DATE)
    if known.is_empty():
        return pl.DataFrame(schema={S.DATE: pl.Date, S.RF: pl.Float64})
    first, last = quotes[S.DATE].min(), quotes[S.DATE].max()
    sessions = cal.sessions.select(
        pl.col(S.DATE), pl.col(S.DATE).shift(1).alias("_prev")
    ).filter(pl.col(S.DATE).is_between(first, last) & pl.col("_prev").is_not_null())
    rate = (1.0 - pl.col("_d") / 100.0 * TBILL_DAYS / TBILL_BASIS).pow(
        -(pl.col(S.DATE) - pl.col("_prev")).dt.total_days() / TBILL_DAYS
    ) - 1.0
    return (
        sessions.sort("_prev")
        .join_asof(known, left_on="_prev", right_on=S.DATE, strategy="backward",
                   tolerance=f"{STALE_QUOTE_DAYS}d", suffix="_quote")
        .select(S.DATE, rate.alias(S.RF))
        .sort(S.DATE)
    )
