"""Width allocation: how many neurons each group of shared neurons of a layer gets.

Three rules, one per way a width is chosen: a forced width shared out in proportion to the
groups' monomial counts (:func:`forced_widths`), our error model's smallest width per group
meeting a target (:func:`model_widths`, design.neurons_for), and the published construction's
own rule (:func:`paper_width`). Planners pick the rule; the groups' wiring designs
(design.design_group) are then chosen for the widths given.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from circuit2mlp.codegen.activity import LevelActivity
from circuit2mlp.codegen.design import active_other, neurons_for


def forced_widths(
    monomials: Sequence[np.ndarray], degrees: Sequence[int], width: int, dedicated_linear: bool
) -> list[int]:
    """``width`` neurons shared among the groups in proportion to their monomial counts (at
    least one each; the rounding rest to the largest); a degree-1 group with
    ``dedicated_linear`` gets one neuron per monomial on top."""
    fixed = {
        i: len(m)
        for i, (m, q) in enumerate(zip(monomials, degrees, strict=True))
        if q == 1 and dedicated_linear
    }
    shared = [i for i in range(len(monomials)) if i not in fixed]
    widths = dict(fixed)
    if shared:
        sizes = np.array([len(monomials[i]) for i in shared], dtype=np.float64)
        share = np.maximum(1, np.floor(width * sizes / sizes.sum())).astype(int)
        share[np.argmax(sizes)] += max(0, width - int(share.sum()))
        widths.update(zip(shared, share.tolist(), strict=True))
    return [widths[i] for i in range(len(monomials))]


def model_widths(
    monomials: Sequence[np.ndarray],
    degrees: Sequence[int],
    level: LevelActivity,
    target_errors: float,
    dedicated_linear: bool,
) -> list[int]:
    """Each group's smallest width whose predicted wrong monomials per sample meet an equal
    share of ``target_errors`` (design.neurons_for); a degree-1 group with
    ``dedicated_linear`` gets one neuron per monomial."""
    n_in = len(level.names)
    other = active_other(level)
    return [
        len(m)
        if q == 1 and dedicated_linear
        else neurons_for(
            q,
            len(m),
            np.unique(m).size,
            n_in,
            other,
            target_errors / len(monomials),
            limit=max(64, 64 * len(m)),
        )
        for m, q in zip(monomials, degrees, strict=True)
    ]


#: The paper's read-off error allowance: a read-off may stray this far before its margin to
#: the 1/2 threshold is in danger.
PAPER_EPSILON = 0.25


def paper_width(q: int, n_monomials: int, n_used: int, n_level: int, active: float) -> int:
    """Neurons for one AND group by the published construction's own rule (docs/theory.md
    section 4), not by our error model: the smaller of

    * universal AND: features join neurons with p = eps / s, so a one-short monomial's
      covering neurons meet another active feature with chance about (s - 1) p < eps; and
      d = ln(F) / (eps p)^2 neurons, so every cover (d p^2 = ln(F) / eps^2 neurons) is
      concentrated within eps of its mean (Chernoff);
    * targeted AND: k = ln(M) / eps^2 neurons per monomial, and enough neurons that one reads
      at most eps * F / a features (fewer than eps active ones in a busy sample, a of the F
      being on): d = q k M a / (eps F).

    eps = :data:`PAPER_EPSILON`, s = ``active`` (active features in a busy sample)."""
    eps = PAPER_EPSILON
    s = max(active, 2.0)
    p = eps / s
    universal = math.log(max(n_used, 2)) / (eps * p) ** 2 if q >= 2 else math.inf
    k = math.log(max(n_monomials, 2)) / eps**2
    targeted = q * k * n_monomials * active / (eps * max(n_level, 1))
    return max(2, math.ceil(min(universal, max(targeted, k))))
