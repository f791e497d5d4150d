"""Normal-return models fitted on the estimation window, vectorised over event rows.

Every model but ``market-adjusted`` is one linear regression per event row *i*, fitted by OLS
on the estimation days ``t = 1..T`` on which the dependent variable and every regressor
exist (MacKinlay 1997, eq. 6-7; Fama & French 1993, 2015; Carhart 1997)::

    y_it = α_i + b_i' x_it + ε_it,      σ̂² = SSR / (T − k),   k = 1 + dim(x)

=================  ===================  ==================================================
model              y                    x
=================  ===================  ==================================================
``constant-mean``  R_it                 (none): α̂ = R̄_i
``market``         R_it                 R_mt (the event's benchmark)
``capm``           R_it − rf_t          R_mt − rf_t
``ff3``            R_it − rf_t          mkt_rf, smb, hml
``carhart4``       R_it − rf_t          mkt_rf, smb, hml, mom
``ff5``            R_it − rf_t          mkt_rf, smb, hml, rmw, cma
``factors``        R_it (− rf_t)        the chosen columns of the chosen factor set
=================  ===================  ==================================================

``rf`` is the ``rf`` column of the factor set ``spec.risk_free``; the normal *return* of an
excess-return model is ``rf_t + α̂ + b̂' x_t``. ``market-adjusted`` estimates nothing: α = 0,
β = 1, and σ̂ is the standard deviation of ``R_it − R_mt`` over the estimation window with
``T − 1`` degrees of freedom (Brown & Warner 1985).

Estimation, for all event rows at once, on the dense ``E x L`` arrays of
:class:`analysis.panel.EventPanel` (batched NumPy, no loop over events):

1. the estimation days on which y and every x exist are masked (``T`` counts exactly the
   usable days), and row-wise reductions give the raw cross-product sums ``T, Σx, Σxx',
   Σxy, Σy, Σy²`` of every row;
2. these become centred moments ``C = Σxx' − T x̄x̄'``, ``c = Σxy − T x̄ȳ``,
   ``S_yy = Σy² − Tȳ²``, and all rows are solved in one batched call on the correlation-scaled
   ``C`` (``b̂ = C⁻¹c``, ``α̂ = ȳ − x̄'b̂``, ``SSR = S_yy − c'b̂``, ``R² = 1 − SSR/S_yy``).

For the market model this is the textbook closed form ``β̂ = S_xy/S_xx`` (``C`` is 1 x 1).
The AR and CAR variances need only ``x̄`` and ``C⁻¹`` (see :mod:`analysis.abnormal`), which
the result keeps as arrays beside the models table (:class:`FittedModels`).

Raw sums rather than sums around each row's means (one pass over the data instead of two);
daily returns have means far below their standard deviations, so the centring afterwards
loses no accuracy that matters (measured on AMZN and the Fama-French factors: the estimates
agree with exact rational arithmetic to ~1e-15 relative for every coefficient not near zero,
as statsmodels does).

An event row with fewer than ``min_estimation_obs`` usable days, a constant regressor or
collinear regressors gets null estimates and a ``reason``.

**Abnormal volume** (Ajinkya & Jain 1989; Campbell & Wasley 1996): the mean model of
``v_it = ln(1 + V_it)`` (V = shares traded; the 1 keeps zero-volume days)::

    v̄_i = (1/T_v) Σ v_it,   s_v² = Σ (v_it − v̄_i)² / (T_v − 1)

over the estimation days with a volume (``T_v`` of them; ``log_volume_mean``,
``log_volume_sd``, ``volume_n_obs``); null with ``volume_reason`` when the ticker has no
volume or too few days of it.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import polars as pl

from analysis import schema as S
from analysis.panel import ROW, EventPanel
from analysis.specs import StudySpec

EST_FIRST_DAY = "est_first_day"
EST_LAST_DAY = "est_last_day"
COLLINEAR_TOL = 1e-10  # smallest eigenvalue of the regressors' correlation matrix
CONSTANT_TOL = 1e-12  # centred / raw sum of squares of a regressor below this: constant


@dataclass(frozen=True, eq=False)
class FittedModels:
    """The fitted normal-return models of ``E`` event rows, in row order.

    Attributes
    ----------
    frame
        The models table, one row per event row (:func:`fit_models`).
    xbar
        ``E x p``: each regressor's mean over the estimation days ``x̄`` (NaN without a model).
    cinv
        ``E x p x p``: ``C⁻¹``, the inverse of the centred cross-product matrix of the
        regressors over the estimation days (NaN without a model). With ``σ̂`` and ``T``, all
        the AR and CAR variances read (:mod:`analysis.abnormal`).
    """

    frame: pl.DataFrame
    xbar: np.ndarray
    cinv: np.ndarray
    _arrays: dict[str, np.ndarray] = field(default_factory=dict, repr=False)

    def array(self, name: str) -> np.ndarray:
        """Column ``name`` of :attr:`frame` as floats (NaN for null), converted once."""
        if name not in self._arrays:
            self._arrays[name] = self.frame[name].cast(pl.Float64).fill_null(np.nan).to_numpy()
        return self._arrays[name]

    def head(self, n: int) -> FittedModels:
        """The first ``n`` event rows' models."""
        return FittedModels(self.frame.head(n), self.xbar[:n], self.cinv[:n])


@dataclass(frozen=True)
class Design:
    """The linear normal-return model of a study: ``y = α + Σ_j b_j x_j + ε``.

    Attributes
    ----------
    excess
        ``y`` is the excess return ``R − rf`` and the normal return ``rf + α + b'x``
        (``rf`` = the panel's factor ``rf``); else ``y = R``.
    regressors
        The panel column of each ``x_j`` (``benchmark_ret``, ``factor_<f>``); with ``excess``
        the benchmark enters as its excess return ``R_m − rf`` (CAPM).
    loadings
        The models column of each ``b_j`` (``beta`` for the market, ``beta_<factor>``).
    constant_reasons
        The reason given when ``x_j`` is constant over the estimation window.
    lacking
        What a day with a return but without the regressors lacks (for reasons).
    """

    excess: bool
    regressors: tuple[str, ...]
    loadings: tuple[str, ...]
    constant_reasons: tuple[str, ...]
    lacking: str

    def arrays(self, panel: EventPanel, cols: slice) -> tuple[np.ndarray, list[np.ndarray], np.ndarray | None]:
        """``y``, the ``x_j`` and ``rf`` (None without ``excess``) on the columns ``cols``."""
        rf = panel.factors[S.RF][:, cols] if self.excess else None
        ret = panel.ret[:, cols]
        xs = []
        for name in self.regressors:
            x = panel.column(name)[:, cols]
            xs.append(x - rf if rf is not None and name == S.BENCHMARK_RET else x)
        return (ret if rf is None else ret - rf), xs, rf


def design(spec: StudySpec) -> Design | None:
    """The regression of ``spec.model`` (None for ``market-adjusted``, which estimates nothing)."""
    if spec.model == "market-adjusted":
        return None
    excess = spec.risk_free is not None
    if spec.model == "constant-mean":
        return Design(False, (), (), (), "")
    if spec.model == "market":
        return Design(False, (S.BENCHMARK_RET,), (S.BETA,), ("benchmark returns are constant over the estimation window",),
                      "benchmark")
    if spec.model == "capm":
        return Design(excess, (S.BENCHMARK_RET,), (S.BETA,),
                      ("benchmark excess returns are constant over the estimation window",), "benchmark or risk-free")
    names = [c for _, c in spec.factor_columns]
    return Design(
        excess,
        tuple(S.factor_column(c) for c in names),
        tuple(S.loading_column(c) for c in names),
        tuple(f"factor {c} is constant over the estimation window" for c in names),
        "factor",
    )


def _rowdot(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """``Σ_t a_it b_it`` of every row."""
    return np.einsum("ij,ij->i", a, b)


def _sums(panel: EventPanel, spec: StudySpec, d: Design | None) -> dict[str, np.ndarray]:
    """Per event row: the raw sums of the usable estimation days, and the volume moments."""
    cols = panel.span(spec.estimation)
    ret, bench = panel.ret[:, cols], panel.benchmark_ret[:, cols]
    if d is None:  # market-adjusted: the mean model of R - R_m
        y, xs = ret - bench, []
    else:
        y, xs, _ = d.arrays(panel, cols)
    usable = np.isfinite(y)
    for x in xs:
        usable &= np.isfinite(x)
    complete = bool(usable.all())  # no day to skip (complete data): no masked copies
    # Zero the unusable days once: every sum below then skips them.
    y0, *x0 = (v if complete else np.where(usable, v, 0.0) for v in (y, *xs))
    n = usable.sum(axis=1)
    p = len(xs)
    out = {
        S.N_OBS: n,
        "_lacking": np.zeros(n.size, dtype=np.int64) if complete else (np.isfinite(ret) & ~usable).sum(axis=1),
        "_sy": y0.sum(axis=1),
        "_syy": _rowdot(y0, y0),
        **{f"_sx{j}": x.sum(axis=1) for j, x in enumerate(x0)},
        **{f"_sxx{j}_{k}": _rowdot(x0[j], x0[k]) for j in range(p) for k in range(j, p)},
        **{f"_sxy{j}": _rowdot(x, y0) for j, x in enumerate(x0)},
    }
    if d is not None and d.regressors[:1] == (S.BENCHMARK_RET,) and not d.excess:  # the market model: R_m is x_0
        nm, sm, smm = n, out["_sx0"], out["_sxx0_0"]
    else:
        bm = np.where(usable & np.isfinite(bench), bench, 0.0)
        nm, sm, smm = (usable & np.isfinite(bench)).sum(axis=1), bm.sum(axis=1), _rowdot(bm, bm)
    with np.errstate(divide="ignore", invalid="ignore"):
        mean = sm / nm
        out[S.MKT_MEAN], out[S.MKT_SXX] = mean, smm - nm * mean**2
    any_day = n > 0
    if complete:
        first_day, last_day = np.full(n.size, spec.estimation.start), np.full(n.size, spec.estimation.end)
    else:
        first_day = spec.estimation.start + usable.argmax(axis=1)
        last_day = spec.estimation.end - usable[:, ::-1].argmax(axis=1)
    out[EST_FIRST_DAY] = np.where(any_day, first_day, -1)
    out[EST_LAST_DAY] = np.where(any_day, last_day, -1)
    if panel.log_volume is not None:
        v = panel.log_volume[:, cols]
        has = np.isfinite(v)
        nv = has.sum(axis=1)
        with np.errstate(divide="ignore", invalid="ignore"):
            vmean = np.where(has, v, 0.0).sum(axis=1) / nv
            dev = np.where(has, v - vmean[:, None], 0.0)
        out |= {S.VOLUME_N_OBS: nv, S.LOG_VOLUME_MEAN: vmean, "_svv": _rowdot(dev, dev)}
    else:
        nothing = np.full(panel.n_rows, np.nan)
        out |= {S.VOLUME_N_OBS: np.zeros(panel.n_rows, dtype=np.int64), S.LOG_VOLUME_MEAN: nothing, "_svv": nothing}
    return out


def _solve(sums: dict[str, np.ndarray], p: int) -> dict[str, np.ndarray]:
    """Batched OLS of every row from its raw sums (see the module docstring).

    Returns the arrays ``alpha, b (E x p), ssr, syy, xbar (E x p), cinv (E x p x p),
    constant`` (index of the first constant regressor, -1 if none) and ``collinear``.
    """
    n = sums[S.N_OBS].astype(np.float64)
    col = sums.__getitem__
    e = n.size
    with np.errstate(divide="ignore", invalid="ignore"):
        ybar = col("_sy") / n
        syy = col("_syy") - n * ybar**2
        if not p:
            return {"alpha": ybar, "b": np.zeros((e, 0)), "ssr": syy, "syy": syy, "xbar": np.zeros((e, 0)),
                    "cinv": np.zeros((e, 0, 0)), "constant": np.full(e, -1), "collinear": np.zeros(e, bool)}
        raw = np.zeros((e, p, p))
        for j in range(p):  # fill the symmetric matrix from its upper triangle (p ≤ a handful)
            for k in range(j, p):
                raw[:, j, k] = raw[:, k, j] = col(f"_sxx{j}_{k}")
        xbar = np.column_stack([col(f"_sx{j}") for j in range(p)]) / n[:, None]
        c = raw - n[:, None, None] * xbar[:, :, None] * xbar[:, None, :]
        cxy = np.column_stack([col(f"_sxy{j}") for j in range(p)]) - n[:, None] * xbar * ybar[:, None]
        diag = np.diagonal(c, axis1=1, axis2=2)
        flat = ~(diag > CONSTANT_TOL * np.diagonal(raw, axis1=1, axis2=2))  # also NaN (no data)
        constant = np.where(flat.any(axis=1), flat.argmax(axis=1), -1)
        scale = np.sqrt(np.where(flat, 1.0, diag))
        corr = c / (scale[:, :, None] * scale[:, None, :])
        bad = (constant >= 0) | ~np.isfinite(corr).all(axis=(1, 2))
        eye = np.broadcast_to(np.eye(p), corr.shape)
        corr = np.where(bad[:, None, None], eye, corr)
        collinear = ~bad & (np.linalg.eigvalsh(corr)[:, 0] < COLLINEAR_TOL)
        corr = np.where(collinear[:, None, None], eye, corr)
        b = np.linalg.solve(corr, (cxy / scale)[:, :, None])[:, :, 0] / scale
        cinv = np.linalg.inv(corr) / (scale[:, :, None] * scale[:, None, :])
        alpha = ybar - (xbar * b).sum(axis=1)
        ssr = syy - (cxy * b).sum(axis=1)
    return {"alpha": alpha, "b": b, "ssr": ssr, "syy": syy, "xbar": xbar, "cinv": cinv,
            "constant": constant, "collinear": collinear}


def fit_models(panel: EventPanel, spec: StudySpec) -> FittedModels:
    """Fit ``spec.model`` (and the abnormal-volume model) for every event row.

    Parameters
    ----------
    panel
        The event rows' ``ret, benchmark_ret``, the factors the model needs (its factors and
        ``rf`` for an excess-return model) and optionally ``log_volume`` (see
        :func:`analysis.panel.event_panel`); the result has one row for each ``row = 0..E-1``.
    spec
        Study parameters (estimation window, model, minimum observations).

    Returns
    -------
    FittedModels
        The table ``row, model, alpha, beta``, ``beta_<factor>`` for each further factor,
        ``sigma, r_squared, n_obs, df_resid, mkt_mean, mkt_sxx, est_first_day, est_last_day,
        reason, log_volume_mean, log_volume_sd, volume_n_obs, volume_reason``, and the ``x̄``
        and ``C⁻¹`` arrays the variances need.
    """
    d = design(spec)
    p = len(d.regressors) if d is not None else 0
    raw = _sums(panel, spec, d)
    sums = pl.DataFrame({
        ROW: np.arange(panel.n_rows, dtype=np.uint32),
        **{name: pl.Series(v, nan_to_null=True) for name, v in raw.items() if v.dtype.kind == "f"},
        **{name: pl.Series(v, dtype=pl.Int32) for name, v in raw.items() if v.dtype.kind != "f"},
    }).with_columns(pl.col(EST_FIRST_DAY, EST_LAST_DAY).replace(-1, None))
    est = spec.estimation
    n = pl.col(S.N_OBS)
    dof = n - spec.n_params
    if d is None:  # market-adjusted: the sample variance of R - R_m
        ssr = pl.col("_syy") - pl.col("_sy") ** 2 / n
        alpha, loadings, r2 = pl.lit(0.0), {S.BETA: pl.lit(1.0)}, pl.lit(None, pl.Float64)
    else:
        sol = _solve(raw, p)
        sums = sums.with_columns(
            pl.Series("_alpha", sol["alpha"]), pl.Series("_ssr", sol["ssr"]), pl.Series("_tss", sol["syy"]),
            pl.Series("_constant", sol["constant"]), pl.Series("_collinear", sol["collinear"]),
            *(pl.Series(f"_b{j}", sol["b"][:, j]) for j in range(p)),
        )
        ssr = pl.col("_ssr").clip(lower_bound=0.0)
        alpha = pl.col("_alpha")
        loadings = {name: pl.col(f"_b{j}") for j, name in enumerate(d.loadings)}
        r2 = 1.0 - ssr / pl.col("_tss") if p else pl.lit(None, pl.Float64)
    lacking = pl.col("_lacking").fill_null(0)
    too_few = pl.format(
        "{} usable estimation returns in [{}, {}], fewer than the minimum {}",
        n.fill_null(0), pl.lit(est.start), pl.lit(est.end), pl.lit(spec.min_estimation_obs),
    )
    if d is not None and d.lacking:
        too_few = pl.when(lacking > 0).then(
            pl.concat_str(too_few, pl.format(" ({} days with a return lack {} data)", lacking, pl.lit(d.lacking)))
        ).otherwise(too_few)
    reason = pl.when(n.fill_null(0) < spec.min_estimation_obs).then(too_few)
    if d is not None:
        for j, why in enumerate(d.constant_reasons):
            reason = reason.when(pl.col("_constant") == j).then(pl.lit(why))
        if p > 1:
            reason = reason.when(pl.col("_collinear")).then(
                pl.lit("the factors are collinear over the estimation window")
            )
    reason = reason.when(ssr <= 0).then(pl.lit("zero residual variance over the estimation window"))
    ok = reason.is_null()

    nv = pl.col(S.VOLUME_N_OBS).fill_null(0)
    vsd = (pl.col("_svv") / (nv - 1)).sqrt()
    volume_reason = (
        pl.when(nv == 0).then(pl.lit("no volume in the estimation window"))
        .when(nv < spec.min_estimation_obs).then(pl.format(
            "{} estimation days with a volume in [{}, {}], fewer than the minimum {}",
            nv, pl.lit(est.start), pl.lit(est.end), pl.lit(spec.min_estimation_obs),
        ))
        .when(~(vsd > 0)).then(pl.lit("volume constant over the estimation window"))
    )
    vok = volume_reason.is_null()

    later = [name for name in (d.loadings if d is not None else ()) if name != S.BETA]
    frame = (
        sums.with_columns(reason.alias(S.REASON), volume_reason.alias(S.VOLUME_REASON))
        .select(
            ROW,
            pl.lit(spec.model).alias(S.MODEL),
            pl.when(ok).then(alpha).alias(S.ALPHA),
            pl.when(ok).then(loadings.get(S.BETA, pl.lit(None))).cast(pl.Float64).alias(S.BETA),
            *(pl.when(ok).then(loadings[name]).alias(name) for name in later),
            pl.when(ok).then((ssr / dof).sqrt()).alias(S.SIGMA),
            pl.when(ok).then(r2).cast(pl.Float64).alias(S.R_SQUARED),
            n.fill_null(0).cast(pl.Int32).alias(S.N_OBS),
            pl.when(n > 0).then(dof).cast(pl.Int32).alias(S.DF_RESID),  # null without any usable day
            S.MKT_MEAN,
            S.MKT_SXX,
            EST_FIRST_DAY,
            EST_LAST_DAY,
            S.REASON,
            pl.when(vok).then(pl.col(S.LOG_VOLUME_MEAN)).alias(S.LOG_VOLUME_MEAN),
            pl.when(vok).then(vsd).alias(S.LOG_VOLUME_SD),
            nv.cast(pl.Int32).alias(S.VOLUME_N_OBS),
            S.VOLUME_REASON,
        )
    )
    fitted = frame[S.REASON].is_null().to_numpy()
    if d is None:
        return FittedModels(frame, np.empty((panel.n_rows, 0)), np.empty((panel.n_rows, 0, 0)))
    return FittedModels(frame, np.where(fitted[:, None], sol["xbar"], np.nan),
                        np.where(fitted[:, None, None], sol["cinv"], np.nan))
