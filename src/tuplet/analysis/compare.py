"""Comparing two sets of pieces on one metric (Yang & Lerch 2018).

Set-level comparison (:func:`compare_feature`) follows Yang & Lerch, "On the evaluation of
generative models in music" (Neural Computing and Applications, 2018; their "mgeval" code):
for one metric, the distribution of pairwise distances ``|x_i - x_j|`` inside the reference
set is compared with the distribution of distances between generated and reference pieces,
by overlapped area ``OA = integral of min(f, g)`` and ``KL(f || g) = integral of f log(f/g)``
(nats). Densities are Gaussian kernel density estimates with Scott's bandwidth (SciPy's
default), computed in numpy in log space on a grid reaching six bandwidths past the data,
so OA of identical samples is 1 and KL stays finite. (mgeval integrates only over the range
of the data, so identical sets score below 1.)
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

MAX_PAIRS = 200_000
"""Distances per distribution; larger sets are compared on a fixed random subset of pairs."""
_KDE_REACH = 6.0  # grid margin, in bandwidths
_MIN_BANDWIDTH = 1e-3  # as a fraction of the pooled range: the floor for constant samples
_MAX_GRID = 20_000


# ------------------------------------------------- set comparison (Yang & Lerch 2018)
def intra_distances(
    values: np.ndarray, max_pairs: int = MAX_PAIRS, rng: np.random.Generator | None = None
) -> np.ndarray:
    """``|x_i - x_j|`` over the pairs ``i < j`` of the finite values.

    When there are more than ``max_pairs`` pairs, a random subset of ``max_pairs`` pairs of
    distinct pieces is drawn from ``rng`` (default: seeded with 0, so runs repeat).
    """
    v = np.asarray(values, dtype=np.float64)
    v = v[np.isfinite(v)]
    n = len(v)
    if n * (n - 1) // 2 <= max_pairs:
        i, j = np.triu_indices(n, 1)
    else:
        rng = np.random.default_rng(0) if rng is None else rng
        i = rng.integers(n, size=max_pairs)
        j = (i + 1 + rng.integers(n - 1, size=max_pairs)) % n
    return np.abs(v[i] - v[j])


def inter_distances(
    a: np.ndarray,
    b: np.ndarray,
    max_pairs: int = MAX_PAIRS,
    rng: np.random.Generator | None = None,
) -> np.ndarray:
    """``|a_i - b_j|`` over every pair of finite values (a random subset when too many)."""
    x = np.asarray(a, dtype=np.float64)
    y = np.asarray(b, dtype=np.float64)
    x, y = x[np.isfinite(x)], y[np.isfinite(y)]
    if len(x) * len(y) <= max_pairs:
        return np.abs(x[:, None] - y[None, :]).ravel()
    rng = np.random.default_rng(0) if rng is None else rng
    return np.abs(x[rng.integers(len(x), size=max_pairs)] - y[rng.integers(len(y), size=max_pairs)])


def scott_bandwidth(values: np.ndarray) -> float:
    """Scott's rule, ``std * n ** (-1/5)`` (sample std), SciPy's default; NaN below 2 values."""
    v = np.asarray(values, dtype=np.float64)
    return float(v.std(ddof=1) * len(v) ** -0.2) if len(v) >= 2 else math.nan


def kde_log_density(values: np.ndarray, grid: np.ndarray, bandwidth: float) -> np.ndarray:
    """Log of a Gaussian kernel density estimate of ``values`` at ``grid`` (exact log space).

    The values are first rounded to a lattice of a quarter bandwidth and weighted by their
    counts (an error of at most 1/8 bandwidth in any value), which keeps large sets cheap.
    """
    lattice = bandwidth / 4
    keys, counts = np.unique(np.round(np.asarray(values) / lattice), return_counts=True)
    centres, log_w = keys * lattice, np.log(counts / counts.sum())
    out = np.empty(len(grid))
    chunk = max(1, (1 << 21) // len(centres))
    for s in range(0, len(grid), chunk):
        z = (grid[s : s + chunk, None] - centres[None, :]) / bandwidth
        a = log_w[None, :] - 0.5 * z * z
        top = a.max(axis=1)
        out[s : s + chunk] = top + np.log(np.exp(a - top[:, None]).sum(axis=1))
    return out - math.log(bandwidth * math.sqrt(2 * math.pi))


def kde_pair(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:
    """Two KDEs on one shared grid: ``(grid, log f, log g)``, each renormalised on the grid.

    Each sample gets its own Scott bandwidth, floored at 1/1000 of the pooled range (so a
    constant sample becomes a narrow bump). Returns None when the pooled values are all
    equal (two identical point masses).
    """
    pooled = np.concatenate([x, y])
    spread = float(pooled.max() - pooled.min())
    if spread == 0.0:
        return None
    floor = _MIN_BANDWIDTH * spread
    bx, by = (max(floor, np.nan_to_num(scott_bandwidth(v))) for v in (x, y))
    lo = min(x.min() - _KDE_REACH * bx, y.min() - _KDE_REACH * by)
    hi = max(x.max() + _KDE_REACH * bx, y.max() + _KDE_REACH * by)
    n = int(min(_MAX_GRID, math.ceil((hi - lo) / (min(bx, by) / 8)) + 1))
    grid = np.linspace(lo, hi, n)
    step = grid[1] - grid[0]
    logs = []
    for v, bw in ((x, bx), (y, by)):
        log_d = kde_log_density(v, grid, bw)
        logs.append(log_d - math.log(np.exp(log_d).sum() * step))
    return grid, logs[0], logs[1]


def _finite(values: np.ndarray) -> np.ndarray:
    v = np.asarray(values, dtype=np.float64)
    return v[np.isfinite(v)]


def overlap_area(x: np.ndarray, y: np.ndarray) -> float:
    """Overlapped area ``integral of min(f, g)`` of the KDEs of two samples.

    1 for the same distribution, 0 for disjoint ones; NaN when a sample has no finite value.
    """
    x, y = _finite(x), _finite(y)
    if len(x) == 0 or len(y) == 0:
        return math.nan
    pair = kde_pair(x, y)
    if pair is None:
        return 1.0
    grid, log_f, log_g = pair
    return float(np.minimum(np.exp(log_f), np.exp(log_g)).sum() * (grid[1] - grid[0]))


def kl_divergence(x: np.ndarray, y: np.ndarray) -> float:
    """``KL(f || g)`` in nats of the KDEs of samples ``x`` (f) and ``y`` (g).

    0 for the same distribution, growing as g misses f's mass; NaN when a sample has no
    finite value.
    """
    x, y = _finite(x), _finite(y)
    if len(x) == 0 or len(y) == 0:
        return math.nan
    pair = kde_pair(x, y)
    if pair is None:
        return 0.0
    grid, log_f, log_g = pair
    return float(max(0.0, (np.exp(log_f) * (log_f - log_g)).sum() * (grid[1] - grid[0])))


# --------------------------------------------------------------------- comparison
@dataclass(frozen=True)
class FeatureComparison:
    """One metric compared between generated samples and a reference set.

    Attributes:
        name: The metric.
        n_samples: Samples with a finite value (the others are left out).
        n_reference: Reference pieces with a finite value.
        samples_mean: Mean over the samples (NaN if none).
        samples_std: Standard deviation over the samples (population, ddof 0).
        reference_mean: Mean over the reference.
        reference_std: Standard deviation over the reference.
        abs_mean_diff: ``|samples_mean - reference_mean|`` (smaller is closer).
        overlap_area: OA of the intra-reference and sample-to-reference distance densities
            (Yang & Lerch 2018): near 1 when samples differ from the reference as much as
            reference pieces differ from each other.
        kl_divergence: ``KL(intra-reference || sample-to-reference)`` in nats (0 is best).
    """

    name: str
    n_samples: int
    n_reference: int
    samples_mean: float
    samples_std: float
    reference_mean: float
    reference_std: float
    abs_mean_diff: float
    overlap_area: float
    kl_divergence: float


def _mean_std(v: np.ndarray) -> tuple[float, float]:
    return (float(v.mean()), float(v.std())) if len(v) else (math.nan, math.nan)


def compare_feature(
    name: str, samples: np.ndarray, reference: np.ndarray, max_pairs: int = MAX_PAIRS
) -> FeatureComparison:
    """Compare one metric's values over the samples with its values over the reference.

    NaN values (pieces for which the metric is undefined) are left out. OA and KL need two
    reference values and one sample value; they are NaN otherwise.
    """
    s, r = _finite(samples), _finite(reference)
    s_mean, s_std = _mean_std(s)
    r_mean, r_std = _mean_std(r)
    oa = kl = math.nan
    if len(r) >= 2 and len(s) >= 1:
        intra = intra_distances(r, max_pairs)
        inter = inter_distances(s, r, max_pairs)
        oa, kl = overlap_area(intra, inter), kl_divergence(intra, inter)
    return FeatureComparison(
        name, len(s), len(r), s_mean, s_std, r_mean, r_std, abs(s_mean - r_mean), oa, kl
    )


__all__ = [
    "MAX_PAIRS",
    "FeatureComparison",
    "compare_feature",
    "inter_distances",
    "intra_distances",
    "kde_log_density",
    "kde_pair",
    "kl_divergence",
    "overlap_area",
    "scott_bandwidth",
]
