"""pass^k = mean over tasks of C(c, k) / C(n, k)."""

from __future__ import annotations

from math import comb

import pytest

from apigen_mt.stats.passk import pass_hat_curve, pass_hat_k, task_pass_hat_k


@pytest.mark.parametrize("n", [1, 2, 5, 8])
def test_task_value_is_the_binomial_ratio(n):
    for c in range(n + 1):
        for k in range(1, n + 1):
            assert task_pass_hat_k(c, n, k) == pytest.approx(comb(c, k) / comb(n, k))


def test_known_values_and_monotonicity():
    assert task_pass_hat_k(3, 5, 2) == pytest.approx(3 / 10)
    assert pass_hat_k([(5, 5)], 5) == 1.0 and pass_hat_k([(0, 5)], 1) == 0.0
    assert pass_hat_k([(3, 5), (5, 5)], 2) == pytest.approx((0.3 + 1.0) / 2)
    curve = pass_hat_curve([(3, 5), (4, 5), (1, 5)])
    assert list(curve) == [1, 2, 3, 4, 5]
    assert curve[1] == pytest.approx((3 + 4 + 1) / 15)
    assert all(curve[k] >= curve[k + 1] for k in range(1, 5))
    assert pass_hat_k([], 1) == 0.0


def test_bad_arguments():
    with pytest.raises(ValueError):
        task_pass_hat_k(6, 5, 1)
    with pytest.raises(ValueError):
        task_pass_hat_k(1, 5, 6)
