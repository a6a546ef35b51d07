"""Gate-assignment policy of the superposed planner: which gates leave the shared neurons.

The gate algebra (terms.py) already sends gates it cannot superpose to exact gadgets. This
module holds the cost rule that moves more of them: a gate whose gadget is no dearer than the
dedicated degree-1 neurons it would need superposed (:func:`prefer_gadgets`). Which gadgets
are *clean* is the noise model's call (noise.py).
"""

from __future__ import annotations

import numpy as np

from circuit2mlp.codegen.exact import op_gadget
from circuit2mlp.codegen.terms import LayerTerms


def prefer_gadgets(terms: LayerTerms) -> None:
    """Move to the dedicated gates every gate whose exact gadget costs no more neurons than
    its share of the dedicated degree-1 neurons it would need superposed.

    A degree-1 term (OR = a + b - ab, AND(a, NOT b) = a - ab) fires whenever its one input
    does, so it cannot share neurons without leaking into other read-offs; superposed it costs
    a dedicated neuron, split among the gates of the layer that read the same feature linearly.
    When a gate's gadget is no dearer (one neuron for AND/OR of literals, two for XOR), the
    gadget is also *exact* and needs no AND neurons: only coincidence gates (no degree-1 term)
    stay superposed. Monomials no gate needs any more are dropped; the rest keep their order.
    """
    if 1 not in terms.terms:
        return
    g1, m1, _ = terms.terms[1]
    feature = terms.monomials[1][m1, 0]
    uses = np.bincount(feature)
    share = np.bincount(g1, weights=1.0 / uses[feature], minlength=terms.n_gates)
    cost = np.zeros(terms.n_gates)
    for op, a, gates in terms.op_classes():
        cost[gates] = op_gadget(op, a).neurons
    move = (share > 0) & (cost <= share + 1e-9)
    if not move.any():
        return
    terms.consts[move] = 0.0
    terms.dedicated = np.union1d(terms.dedicated, np.flatnonzero(move))
    for q in list(terms.terms):
        gate, mono, coef = terms.terms[q]
        keep = ~move[gate]
        gate, mono, coef = gate[keep], mono[keep], coef[keep]
        if gate.size == 0:
            del terms.terms[q], terms.monomials[q]
            continue
        used, first, inverse = np.unique(mono, return_index=True, return_inverse=True)
        rank = np.empty(used.size, dtype=np.int64)
        rank[np.argsort(first, kind="stable")] = np.arange(used.size)
        terms.monomials[q] = terms.monomials[q][used[np.argsort(first, kind="stable")]]
        terms.terms[q] = (gate, rank[inverse.ravel()], coef)
