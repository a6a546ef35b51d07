"""The trained baseline's loss estimate (benchmarks/_uand_training.py): unbiased against the
full sum over every output, computed from the truth table."""

from __future__ import annotations

import sys
from math import comb
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))

from _uand_training import draw_actives, draw_terms, pair_table


def full_loss(act: np.ndarray, m: int, y: np.ndarray, pos_weight: float) -> np.ndarray:
    """Per sample: the weighted squared error of every output (y is one vector of outputs
    shared by the samples), targets from the truth table of the pairwise ANDs."""
    i, j = np.triu_indices(m, k=1)
    losses = []
    for row in act:
        x = np.zeros(m)
        x[row[row < m]] = 1
        target = x[i] * x[j]
        weight = np.where(target > 0, pos_weight, 1.0)
        losses.append(float((weight * (y - target) ** 2).sum()))
    return np.array(losses)


@pytest.mark.parametrize("m,s", [(12, 2), (20, 3)])
def test_loss_estimate_is_unbiased(m, s):
    rng = np.random.default_rng(0)
    table = pair_table(m)
    act = draw_actives(m, s, 50, rng)
    assert np.all((np.diff(act, axis=1) > 0) | (act[:, 1:] == m))  # ascending, padded with m
    y = rng.random(comb(m, 2))
    rounds, total = 3000, np.zeros(len(act))
    for _ in range(rounds):
        idx, wts, tgt = draw_terms(act, m, table, 4, 4, 4.0, rng)
        total += (wts * (y[idx] - tgt) ** 2).sum(axis=1)
    full = full_loss(act, m, y, 4.0)
    assert abs(total.sum() / rounds / full.sum() - 1) < 0.01


def test_positive_terms_are_exactly_the_true_pairs():
    m, s = 16, 3
    rng = np.random.default_rng(1)
    table = pair_table(m)
    act = draw_actives(m, s, 200, rng)
    idx, wts, tgt = draw_terms(act, m, table, 5, 5, 4.0, rng)
    i, j = np.triu_indices(m, k=1)
    for row, r_idx, r_w, r_t in zip(act, idx, wts, tgt, strict=True):
        on = set(row[row < m].tolist())
        truth = {int(table[a, b]) for a in on for b in on if a < b}
        assert {int(c) for c, w, t in zip(r_idx, r_w, r_t, strict=True) if t > 0 and w > 0} == truth
        negatives = [int(c) for c, w, t in zip(r_idx, r_w, r_t, strict=True) if t == 0 and w > 0]
        assert all(not (i[c] in on and j[c] in on) for c in negatives)


def test_hand_gradient_step_matches_autograd():
    """The training step's output-layer gradient, computed by hand with two sparse products,
    against autograd through the gathered rows: same loss and gradients at every step (Adam
    would hide a wrong scale), same weights after them."""
    torch = pytest.importorskip("torch")
    from _uand_training import UandMLP

    m, s, width = 24, 3, 40
    rng = np.random.default_rng(2)
    table = pair_table(m)
    fast, ref = UandMLP(m, width, 0, 1e-2), UandMLP(m, width, 0, 1e-2)
    seen: dict = {}
    for name, net in (("fast", fast), ("ref", ref)):
        adam = net._adam_rows

        def record(uniq, rows, g, name=name, adam=adam):
            seen[name] = (uniq.clone(), g.clone())
            adam(uniq, rows, g)

        net._adam_rows = record
    for _ in range(5):
        act = draw_actives(m, s, 32, rng)
        idx, wts, tgt = draw_terms(act, m, table, 6, 6, 4.0, rng)
        batch = [torch.from_numpy(act), torch.from_numpy(idx)]
        batch += [torch.from_numpy(x).float() for x in (wts, tgt)]
        assert fast.step(*batch, 32) == pytest.approx(ref.step_autograd(*batch, 32), rel=1e-5)
        assert torch.equal(seen["fast"][0], seen["ref"][0])
        assert seen["ref"][1].abs().max() > 0
        assert torch.allclose(seen["fast"][1], seen["ref"][1], rtol=1e-4, atol=1e-7)
        assert torch.allclose(fast.w1.grad, ref.w1.grad, rtol=1e-4, atol=1e-7)
        assert torch.allclose(fast.b1.grad, ref.b1.grad, rtol=1e-4, atol=1e-7)
    assert torch.allclose(fast.w2, ref.w2, atol=1e-5)
    assert torch.allclose(fast.w1, ref.w1, atol=1e-6)
