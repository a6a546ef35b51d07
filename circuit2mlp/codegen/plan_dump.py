"""A construction plan as JSON (``compile --dump-plan FILE``): what each level computes, how,
on which neurons, and how each gate is read off -- for reading a construction, not for
loading back (the weights file is the product)."""

from __future__ import annotations

from typing import Any

import numpy as np

from circuit2mlp.codegen.plan import CLEAN, HOW, LevelPlan, Plan

#: Format tag of the dump.
PLAN_FORMAT = "circuit2mlp-plan/1"


def plan_document(plan: Plan, gate_limit: int | None = None) -> dict[str, Any]:
    """The plan as JSON-ready data; ``gate_limit``: at most that many gates listed per
    level (the counts always cover every gate)."""
    return {
        "format": PLAN_FORMAT,
        "method": plan.method,
        "seed": plan.seed,
        "input_dim": plan.input_dim,
        "stored_negated": sorted(plan.stored_negated()),
        "neurons": int(sum(level.neurons for level in plan.levels)),
        "levels": [_level(level, gate_limit) for level in plan.levels],
    }


def _level(level: LevelPlan, gate_limit: int | None) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "kind": level.kind,
        "layer": level.layer,
        "neurons": int(level.neurons),
        "counts": level.counts(),
        "notes": _plain(dict(level.notes)),
    }
    if level.kind != "compute" or level.terms is None:
        listed = level.gates[:gate_limit] if gate_limit is not None else level.gates
        doc["gates"] = [
            {"name": name, "how": HOW[int(h)]} for name, h in zip(listed, level.how, strict=False)
        ]
        return doc
    rule = level.readoff
    doc["readoff"] = {
        "wiring": "balanced" if rule.balanced else "iid",
        "margin": rule.margin,
        "center": rule.center,
        "cover_limit": rule.cover_limit,
        "fanin_limits": {k: v for k, v in rule.fanin_limits},
        "seed": list(level.seed),
    }
    doc["groups"] = [
        {
            "degree": g.degree,
            "monomials": len(g.monomials),
            "first_neuron": g.first_neuron,
            "neurons": g.neurons,
            "strategy": g.strategy,
            "k": g.k,
            "predicted_errors": g.predicted_errors,
        }
        for g in level.groups
    ]
    doc["gates"] = _gates(level, gate_limit)
    return doc


def _gates(level: LevelPlan, gate_limit: int | None) -> list[dict[str, Any]]:
    """Per gate: how, op, neurons (a gadget's range, a shared gate's groups' degrees) and
    read-off (its monomials' (degree, id, coefficient) and constant; a gadget's own)."""
    terms = level.terms
    assert terms is not None
    n = len(level.gates) if gate_limit is None else min(gate_limit, len(level.gates))
    sizes = level.gadget_neurons()
    starts = level.shared_neurons + np.concatenate([[0], np.cumsum(sizes)])[:-1]
    monomials: list[list[list]] = [[] for _ in range(n)]
    for q in sorted(terms.terms):
        gate, mono, coef = terms.terms[q]
        keep = gate < n
        rows = zip(gate[keep].tolist(), mono[keep].tolist(), coef[keep].tolist(), strict=True)
        for g, m, c in rows:
            monomials[g].append([q, m, c])
    out = []
    for g in range(n):
        how = int(level.how[g])
        entry: dict[str, Any] = {
            "name": level.gates[g],
            "how": HOW[how],
            "op": terms.ops[int(terms.op_index[g])],
        }
        if sizes[g]:
            entry["neurons"] = [int(starts[g]), int(starts[g] + sizes[g])]
            entry["readoff"] = "clean gadget" if how == CLEAN else "gadget"
        else:
            if monomials[g]:  # the groups whose neurons its monomials are read from
                entry["groups"] = sorted({m[0] for m in monomials[g]})
            entry["readoff"] = {"monomials": monomials[g], "const": float(terms.consts[g])}
        out.append(entry)
    return out


def _plain(value: Any) -> Any:
    """JSON-ready copy of a planner's notes (numpy scalars and arrays to Python)."""
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, np.generic):
        return value.item()
    return value
