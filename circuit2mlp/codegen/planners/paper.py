"""Planner of the ``paper`` method: Hänni et al.'s construction as published.

Every gate's polynomial on shared neurons, dense features and degree-1 terms included; i.i.d.
wiring (Bernoulli features per neuron for the universal AND, uniformly random neurons per
gate for the targeted one); bias -(q-1) with no margin; read-off = plain mean of the covering
neurons, not centred; widths by the paper's own rule (widths.paper_width) or a forced width
shared out. No decode layer, no gadget preference, no calibration, no error control: this
module has none of those steps, so the construction cannot fall back or be mixed.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from circuit2mlp.codegen.activity import measure_activity
from circuit2mlp.codegen.design import active_other, plan_groups, shared_gates
from circuit2mlp.codegen.plan import LevelPlan, Plan, ReadOffRule, how_of
from circuit2mlp.codegen.planners.common import unflipped
from circuit2mlp.codegen.terms import layer_terms
from circuit2mlp.codegen.widths import forced_widths, paper_width
from circuit2mlp.ir import LayeredCircuit

HELP = "the published construction: i.i.d. wiring, plain-mean read-offs, no error control"

#: The published read-off: i.i.d. wiring, no margin, no centring, every covering neuron read.
PAPER_READOFF = ReadOffRule(balanced=False, margin=0.0, center=0.0, cover_limit=None)


def plan(layered: LayeredCircuit, config, progress: Callable[[str], None] | None = None) -> Plan:
    """The paper's plan at ``config.width`` (or its own width rule)."""
    say = progress or (lambda text: None)
    streams = np.random.default_rng(config.seed).spawn(2)
    say("measuring wire activity")
    levels = measure_activity(layered, config.sparsity, streams[1])
    levels[-1] = unflipped(levels[-1])  # outputs are read in their true polarity
    plans = []
    for i, gates in enumerate(layered.layers):
        say(f"layer {i + 1}/{layered.depth} ({len(gates):,} gates): planning")
        level = levels[i]
        terms = layer_terms(gates, level, levels[i + 1].flip, superpose_dense=True)
        degrees = sorted(terms.monomials)
        monomials = [terms.monomials[q] for q in degrees]
        if config.width is not None:
            widths = forced_widths(monomials, degrees, config.width, dedicated_linear=False)
        else:
            active = active_other(level) + 1
            n_in = len(level.names)
            widths = [
                paper_width(q, len(m), np.unique(m).size, n_in, active)
                for q, m in zip(degrees, monomials, strict=True)
            ]
        groups = plan_groups(terms, level, widths, PAPER_READOFF, dedicated_linear=False)
        plans.append(
            LevelPlan(
                "compute",
                i,
                tuple(g.name for g in gates),
                how_of(terms, shared_gates(terms, groups), None),
                terms,
                groups,
                None,
                PAPER_READOFF,
                seed=(config.seed, 2, i, config.width or 0),
                notes={"kind": "compute"},
            )
        )
    return Plan(config.method, tuple(levels), tuple(plans), config.input_dim, config.seed)
