"""CAR paths: the cumulative abnormal return day by day through the reported days, with its
standard error, per event row and averaged over the events of a group (for the plots).

Per event row *i*, from the first reported day τ₁ to each day τ (MacKinlay 1997, eq. 19-20)::

    CAR_i(τ₁, τ) = Σ_{s=τ₁..τ} AR_is,    se = √Var(CAR_i(τ₁, τ))

where the variance is the one of :func:`analysis.abnormal.cumulative_abnormal_returns` for the
window [τ₁, τ] — the prediction-error variances of the ARs plus their cross-day covariance
through the estimation error of the model. The path is computed by that same function over
the windows [τ₁, τ₁], [τ₁, τ₁+1], ..., so it agrees with ``car.parquet`` on every window that
starts on τ₁, and with ``cum_abnormal_ret``.

Per group (primary tickers with a CAR on that day), the cross-sectional band of the CAAR
(Brown & Warner 1985; MacKinlay 1997, p. 28)::

    CAAR(τ) = (1/N) Σ_i CAR_i(τ₁, τ),    se = s_τ / √N,    s_τ² = Σ_i (CAR_i − CAAR)² / (N − 1)

(null for N < 2).
"""

from __future__ import annotations

import polars as pl

from analysis import schema as S
from analysis.abnormal import AbnormalReturns, cumulative_abnormal_returns
from analysis.models import FittedModels
from analysis.panel import ROW
from analysis.specs import StudySpec, Window

CAAR = "caar"
CAAR_SE = "caar_se"
BAND_Z = 1.96  # two-sided 95 % band under normality


def car_paths(ar: AbnormalReturns, models: FittedModels, spec: StudySpec) -> pl.DataFrame:
    """CAR from the first reported day to each reported day, per event row.

    Parameters
    ----------
    ar, models
        The engine's abnormal returns on the reported days and models
        (:func:`analysis.abnormal.abnormal_returns`, :func:`analysis.models.fit_models`), of the
        rows wanted (:meth:`analysis.abnormal.AbnormalReturns.head`, :meth:`analysis.models.FittedModels.head`).
    spec
        Study parameters (reported days, model).

    Returns
    -------
    pl.DataFrame
        ``row, event_day, n_days, car, car_se`` sorted by row and day (``row`` numbers the
        rows of ``ar`` from 0); ``car``/``car_se`` are null until the first day with an
        abnormal return and for rows without a model.
    """
    days = spec.report_days
    windows = tuple(Window(days.start, end) for end in range(days.start, days.end + 1))
    path = cumulative_abnormal_returns(ar, models, spec, windows)
    return path.select(ROW, pl.col(S.WINDOW_END).alias(S.EVENT_DAY), S.N_DAYS, S.CAR, S.CAR_SE)


def caar_paths(paths: pl.DataFrame) -> pl.DataFrame:
    """Average CAR path of each group with its cross-sectional standard error.

    Parameters
    ----------
    paths
        ``StudyResult.paths`` (labelled :func:`car_paths`); rows of role ``related`` are left out.

    Returns
    -------
    pl.DataFrame
        ``group, event_day, n_events, caar, caar_se`` sorted by group and day.
    """
    return (
        paths.filter((pl.col(S.ROLE) == "primary") & pl.col(S.CAR).is_not_null())
        .group_by(S.GROUP, S.EVENT_DAY)
        .agg(
            pl.len().cast(pl.Int32).alias(S.N_EVENTS),
            pl.col(S.CAR).mean().alias(CAAR),
            (pl.col(S.CAR).std(ddof=1) / pl.len().sqrt()).alias(CAAR_SE),
        )
        .sort(S.GROUP, S.EVENT_DAY)
    )
