"""Per-gate readouts of the ``dense`` network, fitted on every input it can be given.

The dense hidden layer (codegen/dense.py) is fixed by its random subsets; what a gate reads
from it is linear. With four coefficients shared by every gate the readout is blind to how a
particular pair's neurons happen to fall, and networks trained on the task beat it where the
domain is small (U-AND m = 32, s = 3: 11 % of 3-hot samples wrong on 124 trained neurons,
17 % dense). When every input with at most s active bits can be listed (a few tens of
thousands), each gate's readout row is instead fitted to that whole domain: weighted least
squares of the 0/1 truth on the neurons' activations, then rounds that add weight to every
(input, gate) pair read on the wrong side of 1/2 or within :data:`MARGIN` of it (an iterated
reweighting towards the 0/1 loss; each round is one linear solve per gate). Since the fit
sees the whole domain, the count of wrong inputs it ends with is exact, not a model: it is
what ``verify`` would find on any sample of those inputs.
"""

from __future__ import annotations

from dataclasses import dataclass
from math import comb

import numpy as np
from threadpoolctl import threadpool_limits

from circuit2mlp.simulate import sparse_inputs

#: Most inputs (all <= s-hot ones) the per-gate fit enumerates.
DOMAIN_LIMIT = 60_000
#: Most multiply-adds one round of the fit may take (per gate, reading the domain's
#: activations and one solve): beyond it the shared readout stays. At this limit a fit takes
#: seconds to tens of seconds on one core (U-AND m = 32, s = 3 on 248 neurons: 4 s; m = 64,
#: s = 2 on 110: 11 s; m = 64, s = 3 on 160 neurons, 3.4 times the limit: 185 s).
WORK_LIMIT = 5e9
#: Reweighting rounds after the plain fit.
ROUNDS = 12
#: An (input, gate) read closer than this to 1/2 (or on its wrong side) gains weight.
MARGIN = 0.1
#: Weight a flagged (input, gate) pair gains per round.
BOOST = 4.0
#: Weight of the positive outputs in the first fit (a gate is 1 on few of the domain's inputs).
POSITIVE_WEIGHT = 4.0
#: Ridge term: keeps the solve defined where a neuron never fires on the domain.
RIDGE = 1e-6


@dataclass(frozen=True)
class FittedReadout:
    """Per-gate readout rows and biases, and what they get wrong on the whole domain."""

    rows: np.ndarray  # (gates, width)
    bias: np.ndarray  # (gates,)
    wrong: np.ndarray  # (s + 1,) inputs with a wrong gate, per number of active inputs
    inputs: np.ndarray  # (s + 1,) inputs of the domain, per number of active inputs
    wrong_outputs: float  # wrong gate outputs per s-hot input
    worst_margin: float


def domain_size(m: int, s: int) -> int:
    """Inputs with at most s of m bits active."""
    return sum(comb(m, k) for k in range(min(s, m) + 1))


def applies(m: int, s: int, gates: int, width: int) -> bool:
    """Whether the per-gate fit is affordable: the domain can be listed and a round's
    solves stay within :data:`WORK_LIMIT`."""
    n = domain_size(m, s)
    work = gates * (n * (width + 1) + (width + 1) ** 3 / 3)
    return n <= DOMAIN_LIMIT and work <= WORK_LIMIT


def domain_inputs(m: int, s: int) -> np.ndarray:
    """Every input with at most s active bits, as (N, m) 0/1 float32 rows in order of k (and,
    within a k, of their supports: ``sparse_inputs`` lists every row when asked for all of
    them, drawing nothing from its generator)."""
    unused = np.random.default_rng(0)
    rows = [sparse_inputs(m, k, comb(m, k), unused) for k in range(min(s, m) + 1)]
    return np.concatenate(rows).astype(np.float32)


def fit_readout(
    weight: np.ndarray,
    bias: np.ndarray,
    a: np.ndarray,
    b: np.ndarray,
    s: int,
    start: tuple[np.ndarray, np.ndarray] | None = None,
) -> FittedReadout:
    """Readout rows of gates ``a[g] AND b[g]`` over the hidden layer relu(x @ weight.T + bias),
    fitted on every <= s-hot input (module docstring). Per gate, the round with the fewest
    wrong inputs (ties: the larger worst margin) is kept; ``start`` (rows, biases: the shared
    readout) is a candidate too, so no gate reads worse than it did.

    The fit is thousands of small products and solves: BLAS runs them on one thread (with
    more, on a busy machine its threads wait on each other: U-AND m = 60, s = 2 on 120
    neurons took 353 s at a load of 4 on 2 cores, 8 s on one thread)."""
    with threadpool_limits(limits=1, user_api="blas"):
        return _fit(weight, bias, a, b, s, start)


def _fit(
    weight: np.ndarray,
    bias: np.ndarray,
    a: np.ndarray,
    b: np.ndarray,
    s: int,
    start: tuple[np.ndarray, np.ndarray] | None,
) -> FittedReadout:
    """:func:`fit_readout`'s work."""
    m = weight.shape[1]
    x = domain_inputs(m, s)
    levels = x.sum(axis=1).astype(np.int64)
    hidden = np.maximum(x @ weight.T.astype(np.float32) + bias.astype(np.float32), 0.0)
    h1 = np.concatenate([hidden, np.ones((x.shape[0], 1), np.float32)], axis=1).astype(np.float64)
    gram = h1.T @ h1 + RIDGE * np.eye(h1.shape[1])
    hard = levels == s
    width = weight.shape[0]
    rows = np.zeros((a.size, width))
    biases = np.zeros(a.size)
    wrong_any = np.zeros(x.shape[0], dtype=bool)
    wrong_outputs, worst = 0, np.inf
    for g in range(a.size):
        positive = np.flatnonzero(x[:, a[g]] * x[:, b[g]])
        truth = np.zeros(x.shape[0], dtype=bool)
        truth[positive] = True
        extra = np.zeros(x.shape[0])  # weight added on top of 1 (and of the positives')
        extra[positive] = POSITIVE_WEIGHT - 1.0
        best = None if start is None else _scored(h1, truth, np.append(start[0][g], start[1][g]))
        for _ in range(ROUNDS + 1):
            touched = np.flatnonzero(extra)
            part = h1[touched]
            lhs = gram + (part.T * extra[touched]) @ part
            rhs = h1[positive].T @ (1.0 + extra[positive])
            tried = _scored(h1, truth, np.linalg.solve(lhs, rhs))
            (count, low), _, margin = tried
            if best is None or (count, -low) < (best[0][0], -best[0][1]):
                best = tried
            if count == 0 and low >= MARGIN:
                break
            extra[margin < MARGIN] += BOOST
        (count, low), coef, margin = best
        wrong = margin < 0
        rows[g], biases[g] = coef[:-1], coef[-1]
        wrong_any |= wrong
        wrong_outputs += int((wrong & hard).sum())
        worst = min(worst, low)
    inputs = np.bincount(levels, minlength=s + 1)
    return FittedReadout(
        rows=rows,
        bias=biases,
        wrong=np.bincount(levels[wrong_any], minlength=s + 1),
        inputs=inputs,
        wrong_outputs=wrong_outputs / max(int(inputs[s]), 1),
        worst_margin=float(worst),
    )


def _scored(
    h1: np.ndarray, truth: np.ndarray, coef: np.ndarray
) -> tuple[tuple[int, float], np.ndarray, np.ndarray]:
    """((wrong inputs, worst margin), coef, per-input margin) of one gate's readout ``coef``
    (bias last) over the domain's activations ``h1``."""
    out = h1 @ coef
    margin = np.where(truth, out - 0.5, 0.5 - out)
    return (int((margin < 0).sum()), float(margin.min())), coef, margin
