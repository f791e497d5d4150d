"""Spillovers: who moved around an event — its own tickers and the related ones.

Related tickers (partners, suppliers, rivals; ``related`` in the catalog) are event rows of
role ``related``: the engine fits them the same normal-return model on the same estimation
window around the same day 0, so their ARs, CARs, tests and dollar values are directly
comparable with the primary tickers'. Two things are added here:

* :func:`who_moved` — one table per event: every ticker's AR(0) and, per window, CAR with t,
  p and dollar value, ranked by the size of the day-0 dollar reaction ``|AR(0) × market cap|``
  (the first window's dollar CAR when day 0 is not reported);
* :func:`battery_rows` — the related tickers of one event (two or more with a result) are
  also tested together, as the group ``<event>:related``, by the same twelve-test battery as
  the event groups (:mod:`analysis.inference`). All of them share day 0, so their abnormal
  returns are cross-correlated: the Kolari-Pynnönen (2010) adjusted BMP test accounts for it
  (r̄ from their estimation residuals), the unadjusted tests overstate significance when r̄ > 0.
  The test asks whether the related firms moved *on average*: a partner rising while a rival
  falls cancels out, so read it beside the per-ticker rows.
"""

from __future__ import annotations

import polars as pl

from analysis import schema as S

RELATED_SUFFIX = ":related"
RANK = "rank"
DAY0_DOLLARS = "day0_dollar_abnormal"


def related_group(event_id: pl.Expr | str) -> pl.Expr:
    """The group name ``<event>:related`` of an event's related tickers."""
    return pl.concat_str(pl.col(event_id) if isinstance(event_id, str) else event_id, pl.lit(RELATED_SUFFIX))


def battery_rows(rows: pl.DataFrame) -> pl.DataFrame:
    """The event rows the group tests run on: the primary rows in their groups, and the related
    rows of every event with at least two of them, as primary rows of the group
    ``<event>:related``.

    Parameters
    ----------
    rows
        The engine's event rows (``row, event_id, role, group, ...``).
    """
    related = pl.col(S.ROLE) == "related"
    many = (related.sum().over(S.EVENT_ID) >= 2) & related
    return rows.filter(~related | many).with_columns(
        pl.when(related).then(related_group(S.EVENT_ID)).otherwise(pl.col(S.GROUP)).alias(S.GROUP),
        pl.lit("primary").alias(S.ROLE),
    )


def who_moved(car: pl.DataFrame, abnormal_returns: pl.DataFrame, events: pl.DataFrame) -> pl.DataFrame:
    """Every ticker of every event (primary and related), ranked by its day-0 dollar reaction.

    Parameters
    ----------
    car, abnormal_returns, events
        The frames of a :class:`~analysis.engine.StudyResult`.

    Returns
    -------
    pl.DataFrame
        One row per event × ticker × window: ``event_id, ticker, role, rank`` (1 = the largest
        ``|dollar|`` within the event; rows without a dollar value last, then by ``|CAR|``),
        ``status``, ``market_cap``, the day-0 ``abnormal_ret, ar_t, ar_p``, then
        ``window_start, window_end, car, t_stat, p_value, dollar_abnormal, reason``;
        sorted by event, rank and window.
    """
    keys = [S.EVENT_ID, S.TICKER]
    day0 = abnormal_returns.filter(pl.col(S.EVENT_DAY) == 0).select(*keys, S.ABNORMAL_RET, S.AR_T, S.AR_P)
    first = car.select(S.WINDOW_START, S.WINDOW_END).head(1)
    lead = car.join(first, on=[S.WINDOW_START, S.WINDOW_END], how="semi").select(
        *keys, pl.col(S.DOLLAR_ABNORMAL).alias("_lead_dollars"), pl.col(S.CAR).alias("_lead_car"),
    )
    size = (
        events.select(*keys, S.ROLE, "status", S.MARKET_CAP)
        .join(day0, on=keys, how="left")
        .join(lead, on=keys, how="left")
        .with_columns(
            pl.coalesce(pl.col(S.ABNORMAL_RET) * pl.col(S.MARKET_CAP), pl.col("_lead_dollars")).alias(DAY0_DOLLARS),
            pl.coalesce(pl.col(S.ABNORMAL_RET), pl.col("_lead_car")).abs().alias("_size"),
        )
        .sort(S.EVENT_ID, pl.col(DAY0_DOLLARS).abs(), "_size", S.TICKER, descending=[False, True, True, False],
              nulls_last=True)
        .with_columns(pl.int_range(1, pl.len() + 1, dtype=pl.Int32).over(S.EVENT_ID).alias(RANK))
        .drop("_lead_dollars", "_lead_car", "_size")
    )
    return (
        size.join(
            car.select(*keys, S.WINDOW_START, S.WINDOW_END, S.CAR, S.T_STAT, S.P_VALUE, S.DOLLAR_ABNORMAL, S.REASON),
            on=keys, how="left",
        )
        .sort(S.EVENT_ID, RANK, S.WINDOW_START, S.WINDOW_END, nulls_last=True)
    )
