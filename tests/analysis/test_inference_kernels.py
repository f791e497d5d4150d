"""The dense kernels of the group tests (``analysis.inference.kernels``) against plain references.

Each ranking, sorting, counting and summing kernel is checked on drawn arrays (hypothesis,
bounded sizes) against a reference written the slow obvious way: ``numpy.sort`` /
``scipy.stats.rankdata`` / ``numpy.median`` row by row, brute-force counts, and loops over
groups and over pairs of events. The values mix ordinary floats with the ones that stress the
packed sort (values a few ulps apart, ``-0.0`` and ``0.0``, tiny and subnormal numbers), ties
and missing values (NaN; the kernels' inputs are finite or NaN, never infinite).
"""

from __future__ import annotations

from types import SimpleNamespace
from unittest.mock import patch

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from scipy.stats import rankdata

from analysis.inference import kernels as K

NAN = float("nan")
TRICKY = [0.0, -0.0, 1.0, -1.0, 1.0 + 2**-52, 1.0 - 2**-53, -1.0 - 2**-52, 0.5, 2.0, 1e-300, -1e-300, 5e-324]
FINITE = st.one_of(st.sampled_from(TRICKY), st.floats(-1e3, 1e3, allow_nan=False, allow_infinity=False))
WITH_NAN = st.one_of(FINITE, st.just(NAN))
SMALL_INT = st.integers(-4, 4).map(float)  # ties, zeros and exact arithmetic


def rows_of(elements, max_rows: int = 6, max_width: int = 12, min_width: int = 1):
    shape = st.tuples(st.integers(1, max_rows), st.integers(min_width, max_width))
    return arrays(np.float64, shape, elements=elements)


def nan_sorted(values: np.ndarray) -> np.ndarray:
    """Each row ascending, NaN last (``numpy.sort``'s order; ``-0.0`` equals ``0.0``)."""
    return np.sort(values, axis=1)


# --- sorting and ranking rows -----------------------------------------------------------------------


def check_sort_rows(values: np.ndarray) -> None:
    order, ordered = K.sort_rows(values)
    width = values.shape[1]
    assert order.shape == ordered.shape == values.shape
    np.testing.assert_array_equal(np.sort(order, axis=1), np.broadcast_to(np.arange(width), values.shape))
    np.testing.assert_array_equal(ordered, np.take_along_axis(values, order, axis=1))  # NaN equals NaN here
    np.testing.assert_array_equal(ordered, nan_sorted(values))


@given(rows_of(WITH_NAN))
def test_sort_rows_is_a_permutation_into_ascending_order_with_nan_last(values):
    check_sort_rows(values)


@given(rows_of(st.one_of(st.sampled_from([1.0, 1.0 + 2**-52, 1.0 + 2**-51, 1.0 - 2**-53, NAN]), FINITE)))
def test_sort_rows_corrects_the_rows_that_packing_misorders(values):
    """Values within a few ulps of each other collide once their lowest mantissa bits carry the
    column; those rows are sorted again with ``argsort``."""
    check_sort_rows(values)


@settings(max_examples=10)
@given(rows_of(WITH_NAN, max_rows=3, min_width=(1 << K.ORDER_BITS) + 1, max_width=(1 << K.ORDER_BITS) + 8))
def test_sort_rows_of_rows_too_wide_to_pack(values):
    check_sort_rows(values)


@given(rows_of(st.one_of(FINITE, SMALL_INT, st.just(NAN))))
def test_average_ranks_equal_rankdata_on_each_rows_finite_values(values):
    ranks, places, ordered = K.average_ranks(values)
    np.testing.assert_array_equal(ordered, nan_sorted(values))
    for i, row in enumerate(values):
        has = ~np.isnan(row)
        want = np.full(row.shape, NAN)
        want[has] = rankdata(row[has], method="average")
        np.testing.assert_array_equal(ranks[i], want)
        assert (places[i][~has] == -1).all()
        np.testing.assert_array_equal(np.sort(places[i][has]), np.arange(has.sum()))  # positions 0 .. M−1
        np.testing.assert_array_equal(ordered[i][places[i][has]], row[has])  # each value at its place


@given(rows_of(st.one_of(FINITE, SMALL_INT, st.just(NAN))))
def test_standardised_ranks_and_signs_around_the_median(values):
    u, g = K.standardised_ranks(values)
    for i, row in enumerate(values):
        has = ~np.isnan(row)
        m = has.sum()
        want_u, want_g = np.full(row.shape, NAN), np.full(row.shape, NAN)
        if m:
            want_u[has] = rankdata(row[has], method="average") / (m + 1) - 0.5
            want_g[has] = np.sign(row[has] - np.median(row[has]))
        np.testing.assert_allclose(u[i], want_u, rtol=1e-15, atol=0)
        np.testing.assert_array_equal(g[i], want_g)


# --- searching sorted rows --------------------------------------------------------------------------


@st.composite
def sorted_rows_and_queries(draw):
    values = draw(rows_of(st.one_of(SMALL_INT, FINITE, st.just(NAN))))
    ordered = nan_sorted(values)
    finite = (~np.isnan(ordered)).sum(axis=1)
    count = np.array([draw(st.integers(0, int(f))) for f in finite])
    pool = st.one_of(SMALL_INT, FINITE, st.sampled_from([np.inf, -np.inf]),
                     *([st.sampled_from(sorted(set(ordered[~np.isnan(ordered)])))] if finite.any() else []))
    q = draw(arrays(np.float64, (values.shape[0], draw(st.integers(1, 4))), elements=pool))
    return ordered, count, q


@given(sorted_rows_and_queries(), st.booleans())
def test_count_below_equals_a_brute_force_count(case, strict):
    ordered, count, q = case
    got = K.count_below(ordered, count, q, strict=strict)
    want = np.array([[int(((ordered[i, :count[i]] < x) if strict else (ordered[i, :count[i]] <= x)).sum())
                      for x in q[i]] for i in range(q.shape[0])])
    np.testing.assert_array_equal(got, want)


# --- sums by group ---------------------------------------------------------------------------------


@st.composite
def grouped_rows(draw, max_groups: int = 8):
    sizes = draw(st.lists(st.integers(1, 5), min_size=1, max_size=max_groups))
    starts = np.cumsum([0, *sizes[:-1]])
    values = draw(arrays(np.float64, (sum(sizes), draw(st.integers(1, 3))), elements=st.one_of(SMALL_INT, FINITE)))
    return values, starts, sizes


def loop_group_sums(values: np.ndarray, sizes: list[int]) -> np.ndarray:
    out, first = np.zeros((len(sizes), *values.shape[1:])), 0
    for k, size in enumerate(sizes):
        for r in range(first, first + size):
            out[k] += values[r]
        first += size
    return out


@given(grouped_rows())
def test_group_sums_and_block_sums_equal_a_loop_over_groups(case):
    values, starts, sizes = case
    want = loop_group_sums(values, sizes)
    np.testing.assert_allclose(K.group_sums(values, starts), want, rtol=1e-12, atol=1e-9)
    np.testing.assert_allclose(K.Block(np.repeat(np.arange(len(sizes)), sizes), starts).sums(values), want,
                               rtol=1e-12, atol=1e-9)


def test_group_sums_of_no_rows():
    assert K.group_sums(np.zeros((0, 3)), np.zeros(0, dtype=np.int64)).shape == (0, 3)
    assert K.Block(np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)).sums(np.zeros((0, 2))).shape == (0, 2)


@given(grouped_rows(max_groups=12), st.integers(1, 7))
def test_group_totals_block_by_block_equal_the_group_sums(case, chunk):
    """Blocks of ``chunk`` members (a group may straddle blocks; several blocks run in two
    threads): each block's sums by its own groups, added into the totals of all groups."""
    values, starts, sizes = case
    group_of = np.repeat(np.arange(len(sizes)), sizes)
    members = SimpleNamespace(rows=np.arange(values.shape[0]), starts=starts, group_of=group_of)
    seen = []

    def fn(block: K.Block, v: np.ndarray, g: np.ndarray) -> dict[str, np.ndarray]:
        assert block.groups == np.unique(g).size  # the block's local groups are its members' groups
        np.testing.assert_array_equal(np.unique(g, return_inverse=True)[1], block.group)
        seen.append(v.shape[0])
        return {"x": block.sums(v), "x2": block.sums(v * v), "n": block.sums(np.ones(v.shape[0]))}

    with patch.object(K, "ROW_CHUNK", chunk):
        got = K.group_totals(members, fn, values, group_of)
    assert sum(seen) == values.shape[0] and max(seen) <= chunk
    np.testing.assert_allclose(got["x"], loop_group_sums(values, sizes), rtol=1e-12, atol=1e-9)
    np.testing.assert_allclose(got["x2"], loop_group_sums(values * values, sizes), rtol=1e-12, atol=1e-9)
    np.testing.assert_array_equal(got["n"], np.array(sizes, dtype=np.float64))


# --- signed ranks by group ---------------------------------------------------------------------------


@given(st.lists(st.tuples(st.one_of(SMALL_INT, FINITE).filter(lambda v: v != 0), st.integers(0, 4)), max_size=40),
       st.integers(0, 2))
def test_signed_rank_sums_equal_rankdata_of_each_groups_absolute_values(pairs, extra_groups):
    x = np.array([v for v, _ in pairs], dtype=np.float64)
    group = np.array([g for _, g in pairs], dtype=np.int64)
    n_groups = (int(group.max()) + 1 if group.size else 0) + extra_groups
    w_plus, ties = K.signed_rank_sums(x, group, n_groups)
    assert w_plus.shape == ties.shape == (n_groups,)
    for k in range(n_groups):
        xk = x[group == k]
        ranks = rankdata(np.abs(xk), method="average")
        _, t = np.unique(np.abs(xk), return_counts=True)
        assert w_plus[k] == ranks[xk > 0].sum()
        assert ties[k] == float((t.astype(np.float64) ** 3 - t).sum())


# --- pairwise correlation sums within clusters -----------------------------------------------------------


def loop_pair_sums(x: np.ndarray, a: np.ndarray) -> np.ndarray:
    """``Σ_{i<j} a_iw a_jw ρ_ij`` by a loop over clusters, windows and pairs, ``ρ_ij`` the Pearson
    correlation over the days both have (0 for fewer than 2 such days or no variation)."""
    clusters, size, _ = x.shape
    out = np.zeros((clusters, a.shape[2]))
    for c in range(clusters):
        for i in range(size):
            for j in range(i + 1, size):
                both = np.isfinite(x[c, i]) & np.isfinite(x[c, j])
                xi, xj = x[c, i, both], x[c, j, both]
                if both.sum() < 2 or np.ptp(xi) == 0 or np.ptp(xj) == 0:
                    continue
                rho = np.corrcoef(xi, xj)[0, 1]
                for w in range(a.shape[2]):
                    out[c, w] += a[c, i, w] * a[c, j, w] * rho
    return out


DYADIC = st.integers(-16, 16).map(lambda v: v / 8)  # exact sums: a constant series has exactly no variance


@st.composite
def clusters(draw, missing: bool):
    c, size, t, w = draw(st.integers(1, 4)), draw(st.integers(1, 5)), draw(st.integers(1, 8)), draw(st.integers(1, 3))
    x = draw(arrays(np.float64, (c, size, t), elements=st.one_of(DYADIC, st.just(NAN)) if missing else DYADIC))
    a = draw(arrays(np.float64, (c, size, w), elements=st.one_of(st.sampled_from([0.0, 1.0]), st.floats(0, 2))))
    return x, a


@given(clusters(missing=True))
def test_pairwise_complete_sums_equal_a_loop_over_pairs(case):
    x, a = case
    np.testing.assert_allclose(K.pairwise_complete_sums(x, a), loop_pair_sums(x, a), rtol=1e-9, atol=1e-9)


@given(clusters(missing=False))
def test_complete_pair_sums_equal_a_loop_over_pairs(case):
    x, a = case
    np.testing.assert_allclose(K.complete_pair_sums(x, a), loop_pair_sums(x, a), rtol=1e-9, atol=1e-9)
