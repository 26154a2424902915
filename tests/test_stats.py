"""Statistics helpers on known values."""

import numpy as np
import pytest

from mdlm_study.stats import auroc, bootstrap_ci, mcnemar_exact, paired_vs_reference, wilson_interval


@pytest.mark.parametrize(
    "k, n, expected",
    [
        (5, 10, (0.2365931, 0.7634069)),  # textbook values (e.g. statsmodels method="wilson")
        (0, 10, (0.0, 0.2775328)),
        (10, 10, (0.7224672, 1.0)),
        (81, 263, (0.2552885, 0.3662096)),  # by hand: centre 0.310745, half-width 0.055457
    ],
)
def test_wilson_known_values(k, n, expected):
    assert wilson_interval(k, n) == pytest.approx(expected, abs=1e-6)


@pytest.mark.parametrize("n", [1, 3, 88, 173, 299, 300, 1000])
def test_wilson_bounds_are_exact_at_zero_and_n_and_contain_p(n):
    for k in range(n + 1):
        low, high = wilson_interval(k, n)
        assert 0.0 <= low <= k / n <= high <= 1.0
    assert wilson_interval(0, n)[0] == 0.0 and wilson_interval(n, n)[1] == 1.0


def test_wilson_empty_is_uninformative():
    assert wilson_interval(0, 0) == (0.0, 1.0)


@pytest.mark.parametrize("k, n", [(-1, 5), (6, 5), (0, -1)])
def test_wilson_bad_input(k, n):
    with pytest.raises(ValueError, match=str(k)):
        wilson_interval(k, n)


def test_auroc_known_values():
    assert auroc([3, 4, 5], [0, 1, 2]) == 1.0
    assert auroc([0, 1, 2], [3, 4, 5]) == 0.0
    assert auroc([1, 1, 1], [1, 1]) == 0.5
    assert auroc([0.9, 0.8], [0.1, 0.85]) == 0.75
    assert auroc([1, 2], [1]) == 0.75  # one tie (1/2) and one win


def test_auroc_matches_pairwise_definition():
    rng = np.random.default_rng(0)
    pos, neg = rng.integers(0, 5, 40).astype(float), rng.integers(0, 5, 30).astype(float)
    pairwise = ((pos[:, None] > neg[None]) + 0.5 * (pos[:, None] == neg[None])).mean()
    assert auroc(pos, neg) == pytest.approx(pairwise)


def test_auroc_bad_input():
    with pytest.raises(ValueError, match="0 negative"):
        auroc([1.0], [])
    with pytest.raises(ValueError, match="NaN"):
        auroc([np.nan], [1.0])


def test_bootstrap_constant_sample_has_zero_width():
    assert bootstrap_ci(np.mean, [2.5] * 20, n_boot=50) == (2.5, 2.5)


def test_bootstrap_mean_matches_normal_theory():
    sample = np.random.default_rng(1).normal(size=2000)
    low, high = bootstrap_ci(np.mean, sample, n_boot=2000, seed=3)
    half = 1.96 * sample.std(ddof=1) / np.sqrt(sample.size)
    assert low == pytest.approx(sample.mean() - half, abs=0.01)
    assert high == pytest.approx(sample.mean() + half, abs=0.01)


def test_bootstrap_is_seeded_and_takes_two_samples():
    a, b = [0.1, 0.4, 0.9, 0.3], [0.2, 0.5, 0.0]
    first = bootstrap_ci(auroc, a, b, n_boot=200, seed=7)
    assert first == bootstrap_ci(auroc, a, b, n_boot=200, seed=7)
    assert 0.0 <= first[0] <= auroc(a, b) <= first[1] <= 1.0


@pytest.mark.parametrize("kwargs, match", [({"n_boot": 0}, "n_boot"), ({"level": 1.5}, "1.5")])
def test_bootstrap_bad_input(kwargs, match):
    with pytest.raises(ValueError, match=match):
        bootstrap_ci(np.mean, [1.0, 2.0], **kwargs)


@pytest.mark.parametrize("only_a, only_b, expected", [(10, 0, 2 / 1024), (8, 2, 2 * 56 / 1024), (2, 8, 2 * 56 / 1024), (5, 5, 1.0), (0, 0, 1.0)])
def test_mcnemar_exact_known_values(only_a, only_b, expected):
    a = [True] * only_a + [False] * only_b
    b = [False] * only_a + [True] * only_b
    result = mcnemar_exact(a, b)
    assert (result["only_a"], result["only_b"]) == (only_a, only_b)
    assert result["p_value"] == pytest.approx(expected, rel=1e-12)


def test_mcnemar_ignores_concordant_problems_and_is_symmetric():
    a, b = [True] * 9 + [False] * 3, [False] * 9 + [True] * 3
    base = mcnemar_exact(a, b)
    padded = mcnemar_exact(a + [True] * 100 + [False] * 50, b + [True] * 100 + [False] * 50)
    assert padded == base
    swapped = mcnemar_exact(b, a)
    assert swapped == {"only_a": 3, "only_b": 9, "p_value": base["p_value"]}


@pytest.mark.parametrize("a, b", [([True, False], [True]), ([[True]], [[True]])])
def test_mcnemar_bad_input(a, b):
    with pytest.raises(ValueError, match="same length"):
        mcnemar_exact(a, b)


def test_paired_vs_reference_names_the_sides_as_the_benchmarks_record_them():
    reference, this = [True] * 9 + [False] * 3, [False] * 9 + [True] * 3
    test = mcnemar_exact(reference, this)
    assert paired_vs_reference(reference, this) == {"only_reference": 9, "only_this": 3, "p_value": test["p_value"]}
    with pytest.raises(ValueError, match="same length"):
        paired_vs_reference([True], [True, False])
