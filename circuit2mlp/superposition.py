"""How much a network superposes, level by level and neuron by neuron, read from its feature
read-offs (the ground truth every compiled file carries).

A wire *uses* a neuron when its read-off row has a non-zero weight there; a neuron *serves*
the wires that use it. Superposition is a level holding more wires than neurons
(``wires_per_neuron`` > 1) and neurons serving several wires at once; the exact method gives
each wire neurons of its own (every neuron serves one wire). The same figures go into the text
views (``features``, ``trace``, ``noise``, ``inspect``), their JSON and the exported models'
metadata, so a reader of any of them sees where the network superposes.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import scipy.sparse as sp

from circuit2mlp.errors import UserError


def level_superposition(readout: Any, wires: int | None = None) -> dict[str, Any]:
    """Figures of one level from its read-off matrix (F, d): neurons, wires, wires per neuron,
    and how many wires a neuron serves (mean over the neurons that serve any, and max)."""
    r = sp.csr_matrix(readout)  # no copy of a CSR matrix: never modified here
    f, d = r.shape
    stored = r.data != 0  # explicit zeros use no neuron
    per_neuron = np.bincount(r.indices[stored], minlength=d)
    nnz = int(np.count_nonzero(stored))
    used = per_neuron[per_neuron > 0]
    return {
        "neurons": int(d),
        "wires": int(f if wires is None else wires),
        "wires_per_neuron": round(f / d, 6) if d else 0.0,
        "serving_neurons": int(used.size),
        "wires_served_mean": round(float(used.mean()), 6) if used.size else 0.0,
        "wires_served_max": int(used.max()) if used.size else 0,
        "neurons_per_wire_mean": round(nnz / f, 6) if f else 0.0,
    }


def superposition(network: Any) -> list[dict[str, Any]]:
    """Per level of the network (its feature read-offs), :func:`level_superposition` with the
    level number, JSON-ready."""
    return [
        {"level": level, **level_superposition(fmap.readout)}
        for level, fmap in enumerate(network.features)
    ]


@dataclass
class ServedWire:
    """A wire a neuron serves: its read-off row, name and the read-off weight on the neuron."""

    row: int
    name: str
    weight: float


def served_wires(network: Any, level: int, neuron: int) -> list[ServedWire]:
    """The wires whose read-offs use ``neuron`` at ``level``, largest |weight| first."""
    if not network.features:
        raise UserError("the weights file holds no feature read-offs")
    if not 0 <= level < len(network.features):
        raise UserError(f"no level {level} (levels 0..{len(network.features) - 1})")
    fmap = network.features[level]
    d = fmap.readout.shape[1]
    if not 0 <= neuron < d:
        raise UserError(f"no neuron {neuron} at level {level} (neurons 0..{d - 1})")
    r = sp.csr_matrix(fmap.readout)
    hit = (r.indices == neuron) & (r.data != 0)
    rows = np.repeat(np.arange(r.shape[0]), np.diff(r.indptr))[hit]
    weights = r.data[hit]
    order = np.lexsort((rows, -np.abs(weights)))
    return [ServedWire(int(rows[i]), fmap.names[rows[i]], float(weights[i])) for i in order]
