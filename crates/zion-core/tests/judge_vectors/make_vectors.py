#!/usr/bin/env python3
"""Reference vectors for Zion's Mann-Whitney judge.

Writes vectors.json: about 200 cases of generated samples (integer-valued
with heavy ties, unequal sizes, tiny and large samples, continuous values,
identical samples, shifted samples) with SciPy's U and two-sided p-value from
mannwhitneyu(x, y, alternative='two-sided', method='asymptotic',
use_continuity=True). The Rust test reads the JSON only.

    pip install numpy scipy
    python3 make_vectors.py > vectors.json
"""

import json
import sys

import numpy as np
import scipy
from scipy.stats import mannwhitneyu

rng = np.random.default_rng(20261203)


def case(kind, x, y):
    x = [float(v) for v in x]
    y = [float(v) for v in y]
    r = mannwhitneyu(x, y, alternative="two-sided", method="asymptotic", use_continuity=True)
    return {"kind": kind, "x": x, "y": y, "u": float(r.statistic), "p": float(r.pvalue)}


cases = []
# Integer values with heavy ties, sizes from tiny to large.
for _ in range(50):
    n1, n2 = int(rng.integers(1, 60)), int(rng.integers(1, 60))
    hi = int(rng.integers(2, 8))
    x = rng.integers(0, hi, n1)
    y = rng.integers(0, hi, n2) + int(rng.integers(0, 2))
    cases.append(case("integer_ties", x, y))
# Tiny samples.
for _ in range(40):
    n1, n2 = int(rng.integers(1, 5)), int(rng.integers(1, 5))
    cases.append(case("tiny", rng.integers(0, 10, n1), rng.integers(0, 10, n2)))
# Unequal sizes, continuous, some shifted.
for _ in range(40):
    n1, n2 = int(rng.integers(5, 40)), int(rng.integers(100, 400))
    shift = float(rng.choice([0.0, 0.1, 0.3, 1.0]))
    x = rng.lognormal(np.log(20.0) + shift, 0.5, n1)
    y = rng.lognormal(np.log(20.0), 0.5, n2)
    cases.append(case("unequal_continuous", x, y))
# Large samples rounded to three significant figures (histogram-like ties).
for _ in range(30):
    n1, n2 = int(rng.integers(200, 1000)), int(rng.integers(300, 1500))
    shift = float(rng.choice([0.0, 0.02, 0.05, 0.2]))
    x = rng.lognormal(np.log(20.0) + shift, 0.5, n1)
    y = rng.lognormal(np.log(20.0), 0.5, n2)
    x = [float(f"{v:.3g}") for v in x]
    y = [float(f"{v:.3g}") for v in y]
    cases.append(case("large_rounded", x, y))
# Per-second error rates: mostly zeros.
for _ in range(34):
    n1, n2 = int(rng.integers(5, 60)), int(rng.integers(5, 60))
    x = rng.binomial(20, float(rng.choice([0.0, 0.01, 0.05])), n1) / 20.0
    y = rng.binomial(200, 0.01, n2) / 200.0
    cases.append(case("error_rates", x, y))
# Edge cases: all equal, single values, far apart.
cases.append(case("all_equal", [3] * 7, [3] * 9))
cases.append(case("single", [1], [2]))
cases.append(case("single_tie", [1], [1]))
cases.append(case("far_apart", list(range(100, 150)), list(range(0, 50))))
cases.append(case("far_apart_reversed", list(range(0, 30)), list(range(1000, 1040))))
cases.append(case("one_side_tied", [5] * 20, list(range(0, 20))))

json.dump(
    {
        "generator": "make_vectors.py",
        "scipy": scipy.__version__,
        "numpy": np.__version__,
        "cases": cases,
    },
    sys.stdout,
    separators=(",", ":"),
)
sys.stdout.write("\n")
