"""Dense NumPy kernels of the group tests: rows sorted and ranked, sorted rows searched, rows
summed by group (block by block), signed ranks by group and the pairwise sums of residual
correlations within clusters.

Conventions: a *row* is one event's series (array row ``i``, its days in columns), NaN where a
value is missing; *group* arrays list the rows of each group consecutively, ``starts`` each
group's first row.
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from analysis.inference.battery import Members, _MemberRows

ROW_CHUNK = 4096  # rows per block of the row-wise NumPy work (ranks): small temporaries, two threads
ORDER_BITS = 9  # a row of at most 2**9 values sorts with each column packed into its lowest mantissa bits


# --- sorting, ranking and searching rows --------------------------------------------------------------


def sort_rows(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The order that sorts each row (missing values last) and the sorted rows.

    Exact, and faster than ``argsort``: each value's column is written into the lowest
    :data:`ORDER_BITS` bits of its mantissa and the packed rows are sorted as plain floats
    (NumPy's vectorised sort), so the order comes out of the sorted bits. Packing can only
    swap two values that differ by less than ~1e-13 relative; the rows where the unpacked
    values come out of order are sorted again with ``argsort``.
    """
    width = values.shape[1]
    finite = np.isfinite(values)
    if width > 1 << ORDER_BITS:
        order = np.argsort(np.where(finite, values, np.inf), axis=1)
    else:
        low = (1 << ORDER_BITS) - 1
        keys = np.where(finite, values, np.finfo(np.float64).max).view(np.int64) & ~np.int64(low)
        keys |= np.arange(width, dtype=np.int64)
        order = np.sort(keys.view(np.float64), axis=1).view(np.int64) & low
    ordered = np.take_along_axis(values, order, axis=1)
    wrong = np.flatnonzero((ordered[:, 1:] < ordered[:, :-1]).any(axis=1))  # NaN compares False
    if wrong.size:
        order[wrong] = np.argsort(np.where(finite[wrong], values[wrong], np.inf), axis=1, kind="stable")
        ordered[wrong] = np.take_along_axis(values[wrong], order[wrong], axis=1)
    return order, ordered


def average_ranks(values: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per row: the average ranks (1, 2, ...; ties share their mean rank) of the finite values
    among the row's finite values (NaN elsewhere), each value's position in the sorted row
    (-1 where missing), and the sorted row (NaN last)."""
    order, ordered = sort_rows(values)
    width = values.shape[1]
    position = np.arange(width)
    mean_rank = np.broadcast_to(position + 1.0, ordered.shape).copy()
    tied = np.flatnonzero((ordered[:, 1:] == ordered[:, :-1]).any(axis=1))  # NaN never ties
    if tied.size:  # the few rows with ties: the mean of each run of equal values
        run = ordered[tied]
        new = np.ones(run.shape, dtype=bool)
        new[:, 1:] = run[:, 1:] != run[:, :-1]
        last = np.ones(run.shape, dtype=bool)
        last[:, :-1] = new[:, 1:]
        first_of_run = np.maximum.accumulate(np.where(new, position, 0), axis=1)
        last_of_run = np.minimum.accumulate(np.where(last, position, width)[:, ::-1], axis=1)[:, ::-1]
        mean_rank[tied] = (first_of_run + last_of_run) / 2.0 + 1.0
    missing = np.isnan(ordered)
    mean_rank[missing] = np.nan
    cells = (order + (np.arange(values.shape[0]) * width)[:, None]).ravel()  # where each sorted value came from
    ranks = np.empty_like(values)
    ranks.ravel()[cells] = mean_rank.ravel()
    places = np.empty(values.shape, dtype=np.int16)
    places.ravel()[cells] = np.where(missing, -1, position).astype(np.int16).ravel()
    return ranks, places, ordered


def count_below(ordered: np.ndarray, count: np.ndarray, q: np.ndarray, strict: bool) -> np.ndarray:
    """``[i, j]``: how many of the first ``count[i]`` values of the sorted row ``ordered[i]``
    are below ``q[i, j]`` (``<``, or ``<=`` unless ``strict``): one binary search for all rows
    and queries at once (all queries of a row step together, so each row is read once a step)."""
    lo = np.zeros(q.shape, dtype=np.int64)
    hi = np.broadcast_to(count.astype(np.int64)[:, None], q.shape).copy()
    width = ordered.shape[1]
    flat, first = ordered.ravel(), (np.arange(q.shape[0]) * width)[:, None]
    while (active := lo < hi).any():  # at most log2(width) + 1 steps
        mid = (lo + hi) // 2
        v = flat.take(first + np.minimum(mid, width - 1))
        go = (v < q) if strict else (v <= q)
        lo = np.where(active & go, mid + 1, lo)
        hi = np.where(active & ~go, mid, hi)
    return lo


def standardised_ranks(sample: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``U_it = K_it / (M_i + 1) − 1/2`` and ``G_it = sign(AR_it − median_i)`` of every row."""
    ranks, _, ordered = average_ranks(sample)
    m = np.isfinite(ordered).sum(axis=1)
    rows = np.arange(m.size)
    with np.errstate(invalid="ignore"):
        median = (ordered[rows, np.maximum(m - 1, 0) // 2] + ordered[rows, m // 2]) / 2.0
        return ranks / (m + 1.0)[:, None] - 0.5, np.sign(sample - median[:, None])


def signed_rank_sums(x: np.ndarray, group: np.ndarray, n_groups: int) -> tuple[np.ndarray, np.ndarray]:
    """Wilcoxon's ``W⁺`` and tie term of each group's values, by one sort by group and ``|x|``::

        W⁺_g = Σ_{i in g, x_i > 0} rank_g(|x_i|),   ties_g = Σ_runs (t³ − t)

    ``rank_g`` is the average rank (1, 2, ...) of ``|x_i|`` among the ``|x|`` of group ``g``
    and ``t`` the length of each run of equal ``|x|`` within a group.

    Parameters
    ----------
    x
        The values (1-d, finite; zeros are the caller's to drop, as Wilcoxon).
    group
        Each value's group, ``0 .. n_groups − 1`` (any order).
    n_groups
        The number of groups (groups without values get 0 and 0).

    Returns
    -------
    tuple of np.ndarray
        ``W⁺`` and ``Σ (t³ − t)``, each of length ``n_groups``.
    """
    size, positive = np.abs(x), x > 0
    order = np.lexsort((size, group))
    size, group, positive = size[order], group[order], positive[order]
    k = np.arange(x.size)
    new = np.ones(x.size, dtype=bool)
    new[1:] = (size[1:] != size[:-1]) | (group[1:] != group[:-1])
    run = np.cumsum(new) - 1
    run_first = k[new]
    run_size = np.diff(np.append(run_first, x.size))
    first_in_group = np.maximum.accumulate(np.where(np.append(True, group[1:] != group[:-1]), k, 0))
    mean_rank = (run_first[run] + run_first[run] + run_size[run] - 1) / 2.0 - first_in_group + 1.0
    return np.bincount(group, mean_rank * positive, n_groups), np.bincount(group[new], run_size**3.0 - run_size, n_groups)


# --- sums by group ---------------------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class Block:
    """A block of members (in group order): ``group`` numbers the block's groups 0, 1, ... row
    by row; :meth:`sums` adds rows up by those groups."""

    group: np.ndarray
    starts: np.ndarray

    @property
    def groups(self) -> int:
        return self.starts.size

    def sums(self, values: np.ndarray) -> np.ndarray:
        """``rows x ...`` -> ``groups x ...``."""
        return np.add.reduceat(values, self.starts, axis=0) if self.starts.size else values[:0]


def group_totals(
    members: Members, fn: Callable[..., dict[str, np.ndarray]], *arrays: np.ndarray | _MemberRows
) -> dict[str, np.ndarray]:
    """Group totals of per-member quantities, computed block by block of members.

    ``fn(block, *rows)`` gets a :class:`Block` and a block of rows of each of ``arrays``
    (members in group order), and returns named arrays already summed by the block's groups
    (``block.sums``). The blocks run in two threads and their sums are added into
    ``groups x ...`` totals: every temporary is block-sized.
    """
    n, g = members.rows.size, len(members.starts)

    def block(sl: slice) -> tuple[np.ndarray, dict[str, np.ndarray]]:
        code = members.group_of[sl]
        starts = np.flatnonzero(np.diff(code, prepend=-1))
        local = np.cumsum(np.isin(np.arange(code.size), starts)) - 1
        return code[starts], fn(Block(local, starts), *(a[sl] for a in arrays))

    blocks = [slice(i, min(i + ROW_CHUNK, n)) for i in range(0, n, ROW_CHUNK)] or [slice(0, 0)]
    if len(blocks) == 1:
        results = [block(blocks[0])]
    else:
        with ThreadPoolExecutor(2) as pool:
            results = list(pool.map(block, blocks))
    totals: dict[str, np.ndarray] = {}
    for groups, sums in results:
        for name, value in sums.items():
            total = totals.setdefault(name, np.zeros((g, *value.shape[1:])))
            total[groups] += value
    return totals


def group_sums(values: np.ndarray, starts: np.ndarray) -> np.ndarray:
    """Column sums of each group's rows (rows sorted by group; ``starts``: each group's first row)."""
    if not values.shape[0]:
        return np.zeros((0, *values.shape[1:]))
    return np.add.reduceat(values, starts, axis=0)


# --- correlations within clusters (Kolari & Pynnönen 2010) -----------------------------------------


def pairwise_complete_sums(x: np.ndarray, a: np.ndarray) -> np.ndarray:
    """``Σ_{i<j} a_iw a_jw ρ_ij`` per cluster and window, ``ρ_ij`` over the days both events
    have (clusters x size x T residuals ``x``, NaN where missing; ``a``: clusters x size x
    windows, 1 where the event is in the window's test): a ``size x size`` correlation matrix
    per cluster from batched matrix products of the residuals and their presence masks."""
    size = x.shape[1]
    has = np.isfinite(x)
    x0, p = np.where(has, x, 0.0), has.astype(np.float64)
    pt = p.transpose(0, 2, 1)
    n = p @ pt
    sx = x0 @ pt  # Σ e_i over the days both have
    with np.errstate(invalid="ignore", divide="ignore"):
        cov = x0 @ x0.transpose(0, 2, 1) - sx * sx.transpose(0, 2, 1) / n
        var = (x0 * x0) @ pt - sx**2 / n
        rho = cov / np.sqrt(var * var.transpose(0, 2, 1))
    rho = np.where(np.isfinite(rho), rho, 0.0)
    rho[:, np.arange(size), np.arange(size)] = 0.0
    return 0.5 * np.einsum("csw,cst,ctw->cw", a, rho, a)


def complete_pair_sums(x: np.ndarray, a: np.ndarray) -> np.ndarray:
    """:func:`pairwise_complete_sums` of clusters whose events have every day, in time
    linear in the cluster's size: with ``z_i`` event i's residuals demeaned and scaled to
    unit length (0 when they do not vary), ``ρ_ij = z_i'z_j`` and, per window,
    ``Σ_{i<j} a_i a_j ρ_ij = (‖Σ_i a_i z_i‖² − Σ_i a_i² ‖z_i‖²) / 2``."""
    d = x - x.mean(axis=2, keepdims=True)
    norm = np.sqrt((d * d).sum(axis=2, keepdims=True))
    with np.errstate(invalid="ignore", divide="ignore"):
        z = np.where(norm > 0, d / norm, 0.0)
    total = a.transpose(0, 2, 1) @ z  # clusters x windows x T: Σ_i a_iw z_i
    own = np.einsum("csw,cs->cw", a * a, (z * z).sum(axis=2))
    return 0.5 * (np.einsum("cwt,cwt->cw", total, total) - own)
