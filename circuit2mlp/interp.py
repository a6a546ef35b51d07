"""Interpretability views of a compiled network: its ground-truth feature dictionary,
a structural summary, and a layer-by-layer trace of one input.

A compiled network knows exactly which circuit wire every direction of every layer encodes:
``features{i}.readout[f] @ h_i + features{i}.bias[f]`` is wire f's value at level i. That is
the ground truth that sparse autoencoders and circuit-discovery methods should recover, so this
module turns it into something to read and compare against:

- :func:`feature_dictionary`: per level, every wire with its read-off vector's norm, the
  neurons it reads, and how much it interferes with the other wires' read-offs (cosine
  similarity), computed sparsely (see :func:`interference`).
- :func:`summary`: shapes, parameters, sparsity, compile options, neurons per gate.
- :func:`trace`: one input through the network, each wire's true value (from simulating the
  lowered circuit) next to its read-off.
- :func:`wire_noise`: over a batch, how far the wires stray from their values level by level
  (what error correction is judged by).
"""

from __future__ import annotations

import os
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import scipy.sparse as sp

from circuit2mlp.circuitmap import carried_signal, wire_kind
from circuit2mlp.errors import UserError
from circuit2mlp.forward import read_off
from circuit2mlp.ir import Circuit, Gate, LayeredCircuit
from circuit2mlp.network import Network
from circuit2mlp.simulate import (
    layered_levels,
    pack_bits,
    simulate_layered_packed,
    simulate_packed,
    unpack_bits,
)
from circuit2mlp.superposition import level_superposition, superposition

PAIR_BUDGET = 50_000_000  # co-used (feature, feature) products to compute exactly (~5 s)
CHUNK_PAIRS = 4_000_000  # products per chunk of rows (bounds memory)
SAMPLE = 1024  # comparison features per level when the exact pair count is over budget
TOP_PAIRS = 10
ZERO = 1e-7  # cosines below this are reported as no interference


# --------------------------------------------------------------------------- the circuit


def embedded_circuit(network: Network, label: str = "weights") -> Circuit:
    """The circuit stored in the weights file (its ``circuit`` YAML)."""
    from circuit2mlp.formats import parse_circuit

    if not network.circuit_yaml.strip():
        raise UserError(f"{label}: the weights file holds no circuit")
    return parse_circuit(network.circuit_yaml, "yaml", path=f"{label}[circuit]")


def lowered_circuit(network: Network, circuit: Circuit | None = None) -> LayeredCircuit | None:
    """The layered circuit the compiler saw, whose gate names are the feature names: read from
    the file's circuit map (``circuit2mlp/2``), else rebuilt by running normalize + layer with
    the file's options on ``circuit`` (``/1`` files); None when it cannot be had."""
    if network.circuit_map is not None:
        name = str(network.meta.get("circuit") or "circuit")
        return network.circuit_map.layered(name, network.output_names)
    if circuit is None:
        return None
    from circuit2mlp.passes.registry import run_pipeline

    options = network.meta.get("options") or {}
    try:
        layered = run_pipeline(circuit, {"max_fanin": int(options.get("max_fanin", 4))})
    except (UserError, ValueError, TypeError):
        return None
    return layered if isinstance(layered, LayeredCircuit) else None


def level_kinds(network: Network, level: int, circuit: Circuit | None) -> list[str | None]:
    """Each read-off row's wire kind at a level: from the circuit map when the file has one,
    else guessed from names against ``circuit`` (None when neither is there)."""
    names = network.features[level].names
    if network.circuit_map is not None:
        return network.circuit_map.feature_kinds(level, names)
    if circuit is None:
        return [None] * len(names)
    signals = set(circuit.inputs) | set(circuit.gate_map)
    return [wire_kind(name, level, signals) for name in names]


# --------------------------------------------------------------------------- interference


@dataclass
class Interference:
    """Per-feature interference of one level's read-off vectors.

    ``max_cos[f]`` is max over g != f of |r_f·r_g| / (|r_f||r_g|) among the pairs examined and
    ``partner[f]`` that g (-1: none above ZERO). ``method`` is ``exact`` (every pair that shares
    a neuron; all others are exactly orthogonal) or ``sampled`` (each feature against the same
    ``sample`` random features: a lower bound).
    """

    max_cos: np.ndarray
    partner: np.ndarray
    top_pairs: list[tuple[int, int, float]]
    method: str
    pairs_examined: int
    overlapping: int
    sample: int | None = None

    def to_dict(self, names: tuple[str, ...]) -> dict[str, Any]:
        """JSON-ready summary (per-feature values go with the features)."""
        values = self.max_cos
        return {
            "method": self.method,
            "pairs_examined": self.pairs_examined,
            "overlapping_pairs": self.overlapping,
            "sample": self.sample,
            "max": float(values.max()) if values.size else 0.0,
            "mean": float(values.mean()) if values.size else 0.0,
            "top_pairs": [
                {"a": names[i], "b": names[j], "cosine": round(float(c), 6)}
                for i, j, c in self.top_pairs
            ],
        }


def normalized_rows(readout: sp.spmatrix) -> tuple[sp.csr_matrix, np.ndarray]:
    """Rows scaled to unit norm (zero rows stay zero) and the original norms."""
    r = sp.csr_matrix(readout, dtype=np.float64)
    norms = np.sqrt(np.asarray(r.multiply(r).sum(axis=1)).ravel())
    inv = np.divide(1.0, norms, out=np.zeros_like(norms), where=norms > 0)
    return sp.csr_matrix(sp.diags(inv) @ r), norms


def interference(
    readout: sp.spmatrix,
    budget: int = PAIR_BUDGET,
    sample: int = SAMPLE,
    top: int = TOP_PAIRS,
    seed: int = 0,
) -> Interference:
    """Cosine interference between the read-off vectors (rows) of ``readout`` (F, d).

    Two read-offs can only overlap through a neuron both read, so with c_k the number of
    features reading neuron k, ``R @ R.T`` has at most sum_k c_k² entries. When that is within
    ``budget`` every such pair is computed (sparse product, in row chunks of about
    CHUNK_PAIRS products each): the result is exact. Otherwise each feature is compared with
    the same ``sample`` randomly chosen features (seeded), which bounds the cost at F × sample
    and gives a lower bound on each feature's worst interference.
    """
    rn, _ = normalized_rows(readout)
    f_count = rn.shape[0]
    col_counts = np.bincount(rn.indices, minlength=rn.shape[1]).astype(np.int64)
    cost = int(np.sum(col_counts * col_counts))
    if cost <= budget:
        return _exact_interference(rn, col_counts, cost, top)
    s = min(sample, f_count)
    chosen = np.sort(np.random.default_rng(seed).choice(f_count, size=s, replace=False))
    return _sampled_interference(rn, chosen, top)


def _row_chunks(row_costs: np.ndarray, per_chunk: int) -> list[tuple[int, int]]:
    """Consecutive row ranges whose summed cost is about ``per_chunk`` (at least one row)."""
    total = np.cumsum(row_costs)
    bounds, start = [], 0
    while start < len(row_costs):
        base = total[start - 1] if start else 0
        end = int(np.searchsorted(total, base + per_chunk, side="right"))
        end = max(end, start + 1)
        bounds.append((start, end))
        start = end
    return bounds


class _Best:
    """Running per-row maximum with argmax, and a global top-k of pairs."""

    def __init__(self, rows: int, top: int, in_sample: np.ndarray | None = None) -> None:
        self.max_cos = np.zeros(rows)
        self.partner = np.full(rows, -1, dtype=np.int64)
        self.top = top
        self.pairs: list[tuple[int, int, float]] = []
        self.overlapping = 0
        # a pair appears twice when both ends are compared with each other: count it once
        self.in_sample = np.ones(rows, dtype=bool) if in_sample is None else in_sample

    def add(self, rows: np.ndarray, cols: np.ndarray, vals: np.ndarray) -> None:
        """Entries (rows sorted ascending, as a CSR product gives them) of |cos| values."""
        keep = (rows != cols) & (vals > ZERO)
        rows, cols, vals = rows[keep], cols[keep], vals[keep]
        if not vals.size:
            return
        self.overlapping += int(np.count_nonzero(~(self.in_sample[rows] & (rows > cols))))
        starts = np.flatnonzero(np.r_[True, rows[1:] != rows[:-1]])
        row_max = np.maximum.reduceat(vals, starts)
        hits = np.flatnonzero(vals == np.repeat(row_max, np.diff(np.r_[starts, vals.size])))
        first = hits[np.r_[True, rows[hits][1:] != rows[hits][:-1]]]  # first max of each row
        better = vals[first] > self.max_cos[rows[first]]
        self.max_cos[rows[first][better]] = vals[first][better]
        self.partner[rows[first][better]] = cols[first][better]
        lo, hi = np.minimum(rows, cols), np.maximum(rows, cols)  # a pair may come twice
        k = min(2 * self.top, vals.size)
        idx = np.argpartition(-vals, k - 1)[:k]
        self.pairs += [(int(lo[i]), int(hi[i]), float(vals[i])) for i in idx]
        self.pairs = sorted(set(self.pairs), key=lambda p: (-p[2], p[0], p[1]))[: self.top]


def _exact_interference(
    rn: sp.csr_matrix, col_counts: np.ndarray, cost: int, top: int
) -> Interference:
    rt = sp.csr_matrix(rn.T)
    row_ids = np.repeat(np.arange(rn.shape[0]), np.diff(rn.indptr))
    row_costs = np.bincount(row_ids, weights=col_counts[rn.indices], minlength=rn.shape[0])
    best = _Best(rn.shape[0], top)
    for a, b in _row_chunks(row_costs, CHUNK_PAIRS):
        g = (rn[a:b] @ rt).tocoo()
        best.add(g.row.astype(np.int64) + a, g.col.astype(np.int64), np.abs(g.data))
    return Interference(best.max_cos, best.partner, best.pairs, "exact", cost, best.overlapping)


def _sampled_interference(rn: sp.csr_matrix, chosen: np.ndarray, top: int) -> Interference:
    st = sp.csr_matrix(rn[chosen].T)
    in_sample = np.zeros(rn.shape[0], dtype=bool)
    in_sample[chosen] = True
    best = _Best(rn.shape[0], top, in_sample)
    step = max(1, CHUNK_PAIRS // max(1, len(chosen)))
    for a in range(0, rn.shape[0], step):
        g = (rn[a : a + step] @ st).tocoo()
        best.add(g.row.astype(np.int64) + a, chosen[g.col], np.abs(g.data))
    return Interference(
        best.max_cos,
        best.partner,
        best.pairs,
        "sampled",
        rn.shape[0] * len(chosen),
        best.overlapping,
        len(chosen),
    )


# --------------------------------------------------------------------------- dictionary


def feature_dictionary(
    network: Network,
    levels: list[int] | None = None,
    circuit: Circuit | None = None,
    budget: int = PAIR_BUDGET,
    sample: int = SAMPLE,
    top: int = TOP_PAIRS,
) -> dict[str, Any]:
    """Every wire of every level (or of ``levels``): read-off norm and bias, the neurons it
    reads (count and ids), its worst interference and with whom. JSON-ready."""
    if not network.features:
        raise UserError("the weights file holds no feature read-offs")
    wanted = range(len(network.features)) if levels is None else levels
    for level in wanted:
        if not 0 <= level < len(network.features):
            raise UserError(f"no level {level} (levels 0..{len(network.features) - 1})")
    out_levels = []
    for level in wanted:
        fmap = network.features[level]
        kinds = level_kinds(network, level, circuit)
        r = sp.csr_matrix(fmap.readout)
        r.sort_indices()
        inter = interference(r, budget, sample, top, seed=level)
        norms = np.sqrt(np.asarray(r.multiply(r).sum(axis=1), dtype=np.float64).ravel())
        wires = []
        for f, name in enumerate(fmap.names):
            ids = r.indices[r.indptr[f] : r.indptr[f + 1]]
            partner = int(inter.partner[f])
            wires.append(
                {
                    "name": name,
                    "kind": kinds[f],
                    "norm": round(float(norms[f]), 6),
                    "bias": round(float(fmap.bias[f]), 6),
                    "neurons": int(ids.size),
                    "neuron_ids": ids.astype(int).tolist(),
                    "max_interference": round(float(inter.max_cos[f]), 6),
                    "partner": fmap.names[partner] if partner >= 0 else None,
                }
            )
        sup = level_superposition(r)
        out_levels.append(
            {
                "level": level,
                "width": int(r.shape[1]),
                "features": len(fmap.names),
                "wires_per_neuron": sup["wires_per_neuron"],
                "wires_on_a_neuron_mean": sup["wires_served_mean"],
                "wires_on_a_neuron_max": sup["wires_served_max"],
                "superposition": sup,
                "readout_nnz": int(r.nnz),
                "interference": inter.to_dict(fmap.names),
                "wires": wires,
            }
        )
    return {
        "circuit": network.meta.get("circuit"),
        "method": network.meta.get("method"),
        "levels": out_levels,
    }


# --------------------------------------------------------------------------- summary


def _matrix_info(name: str, matrix: Any) -> dict[str, Any]:
    rows, cols = (int(v) for v in matrix.shape)
    if sp.issparse(matrix):
        nnz, storage = int(matrix.nnz), "csr"
    else:
        nnz, storage = int(np.count_nonzero(matrix)), "dense"
    size = rows * cols
    return {
        "name": name,
        "shape": [rows, cols],
        "storage": storage,
        "nnz": nnz,
        "density": nnz / size if size else 0.0,
    }


def summary(
    network: Network, path: str | os.PathLike | None = None, circuit: Circuit | None = None
) -> dict[str, Any]:
    """A structural description of a weights file: provenance and options from meta, every
    matrix's shape and sparsity, parameter counts, and per layer the gates and carries computed
    and neurons spent; per gate op (when the circuit can be lowered again) the neurons each
    kind of gate reads. JSON-ready."""
    meta = network.meta
    matrices = [_matrix_info("embed", network.embed)]
    biases = 0
    for i, (weight, bias) in enumerate(network.layers):
        matrices.append(_matrix_info(f"layer{i}.weight", weight))
        biases += int(bias.size)
    matrices.append(_matrix_info("readout.weight", network.readout[0]))
    biases += int(network.readout[1].size)
    features = [
        _matrix_info(f"features{i}.readout", f.readout) for i, f in enumerate(network.features)
    ]
    dense_params = sum(m["shape"][0] * m["shape"][1] for m in matrices) + biases
    nonzero_params = sum(m["nnz"] for m in matrices) + biases

    layers = []
    for i, width in enumerate(network.widths):
        names = network.features[i + 1].names if i + 1 < len(network.features) else ()
        if network.circuit_map is not None:
            carries = network.circuit_map.network_level_kinds(i + 1).count("carry")
        else:
            carries = sum(1 for n in names if carried_signal(n) != n)
        gates = len(names) - carries
        weight = network.layers[i][0]
        w_nnz = int(weight.nnz) if sp.issparse(weight) else int(np.count_nonzero(weight))
        layers.append(
            {
                "layer": i,
                "neurons": width,
                "gates": gates,
                "carries": carries,
                "neurons_per_wire": width / len(names) if names else None,
                "wires_per_neuron": len(names) / width if width else None,
                "weight_nnz": w_nnz,
                "mean_fan_in": w_nnz / width if width else 0.0,
            }
        )
    wires = sum(len(f.names) for f in network.features[1:])
    out: dict[str, Any] = {
        "file": str(path) if path is not None else None,
        "bytes": Path(path).stat().st_size if path is not None else None,
        "circuit": meta.get("circuit"),
        "method": meta.get("method"),
        "sparsity": meta.get("sparsity"),
        "seed": meta.get("seed"),
        "version": meta.get("version"),
        "source_sha256": meta.get("source_sha256"),
        "options": meta.get("options", {}),
        "inputs": len(network.input_names),
        "outputs": len(network.output_names),
        "source_gates": meta.get("gates"),
        "depth": len(network.layers),
        "widths": network.widths,
        "neurons": network.neurons,
        "exact_neurons": meta.get("exact_neurons"),
        "parameters": {"dense": dense_params, "nonzero": nonzero_params},
        "matrices": matrices,
        "feature_readouts": features,
        "layers": layers,
        "neurons_per_gate": network.neurons / meta["gates"] if meta.get("gates") else None,
        "neurons_per_wire": network.neurons / wires if wires else None,
        "superposition": superposition(network),
        "by_op": _by_op(network, circuit),
    }
    return out


def _by_op(network: Network, circuit: Circuit | None) -> list[dict[str, Any]] | None:
    """Per gate op of the lowered circuit: how many gates, and the neurons their read-offs
    use (the neurons a gate costs, for methods that give gates their own neurons)."""
    layered = lowered_circuit(network, circuit)
    if layered is None:
        return None
    carry = _carries(network)
    ops: dict[str, str] = {}
    for layer in layered.layers:
        for gate in layer:
            ops[gate.name] = _op(gate, carry)
    count: Counter[str] = Counter()
    neurons: dict[str, list[int]] = defaultdict(list)
    for fmap in network.features[1:]:
        per_row = np.diff(sp.csr_matrix(fmap.readout).indptr)
        for f, name in enumerate(fmap.names):
            op = ops.get(name, "?")
            count[op] += 1
            neurons[op].append(int(per_row[f]))
    fan_ins = _fan_ins(layered, carry)
    return [
        {
            "op": op,
            "gates": count[op],
            "fan_in": fan_ins.get(op),
            "neurons": int(sum(neurons[op])),
            "neurons_per_gate": float(np.mean(neurons[op])),
        }
        for op in sorted(count)
    ]


def _carries(network: Network) -> set[str] | None:
    """The carry wires by the circuit map (None: a ``/1`` file, judge by name)."""
    cmap = network.circuit_map
    return None if cmap is None else set(cmap.names[cmap.kinds == "carry"].tolist())


def _op(gate: Gate, carries: set[str] | None) -> str:
    if carries is not None:
        return "carry" if gate.name in carries else gate.op
    return "carry" if gate.op == "BUF" and carried_signal(gate.name) != gate.name else gate.op


def _fan_ins(layered: LayeredCircuit, carries: set[str] | None) -> dict[str, str]:
    seen: dict[str, set[int]] = defaultdict(set)
    for layer in layered.layers:
        for gate in layer:
            seen[_op(gate, carries)].add(len(gate.fanin))
    return {op: ",".join(map(str, sorted(ks))) for op, ks in seen.items()}


# --------------------------------------------------------------------------- trace


@dataclass
class TraceRow:
    """One wire at one level: its true value (None: unknown) and the network's read-off."""

    name: str
    kind: str
    truth: int | None
    readout: float

    @property
    def error(self) -> float | None:
        """|read-off - truth|, None when the truth is unknown."""
        return None if self.truth is None else abs(self.readout - self.truth)

    @property
    def wrong(self) -> bool:
        """The read-off rounds (at 0.5) to the wrong bit."""
        return self.truth is not None and (self.readout > 0.5) != bool(self.truth)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {
            "name": self.name,
            "kind": self.kind,
            "truth": self.truth,
            "readout": round(self.readout, 6),
            "error": None if self.error is None else round(self.error, 6),
            "wrong": self.wrong,
        }


@dataclass
class Trace:
    """One input's way through the network, level by level."""

    ones: tuple[str, ...]
    levels: list[list[TraceRow]] = field(default_factory=list)
    outputs: list[TraceRow] = field(default_factory=list)
    #: per level: neurons, wires per neuron, ... (superposition.level_superposition) and
    #: ``active_neurons``, the neurons above 0 on this input
    stats: list[dict[str, Any]] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form, with each level's worst error."""

        def worst(rows: list[TraceRow]) -> float:
            return max((r.error for r in rows if r.error is not None), default=0.0)

        return {
            "ones": list(self.ones),
            "levels": [
                {
                    "level": i,
                    **(self.stats[i] if i < len(self.stats) else {}),
                    "max_error": round(worst(rows), 6),
                    "wires": [r.to_dict() for r in rows],
                }
                for i, rows in enumerate(self.levels)
            ],
            "outputs": [r.to_dict() for r in self.outputs],
            "max_error": round(max((worst(rows) for rows in self.levels), default=0.0), 6),
            "wrong": sum(r.wrong for rows in self.levels for r in rows),
        }


def input_vector(network: Network, ones: list[str]) -> np.ndarray:
    """The (1, m) 0/1 input with exactly the named inputs set; unknown names are refused."""
    index = {n: i for i, n in enumerate(network.input_names)}
    unknown = [n for n in ones if n not in index]
    if unknown:
        shown = ", ".join(network.input_names[:12]) + (" ..." if len(index) > 12 else "")
        raise UserError(f"unknown input(s) {', '.join(unknown)} (inputs: {shown})")
    x = np.zeros((1, len(index)), dtype=np.uint8)
    for n in ones:
        x[0, index[n]] = 1
    return x


def level_truths(
    network: Network,
    circuit: Circuit | None,
    x: np.ndarray,
    layered: LayeredCircuit | None = None,
) -> list[dict[str, np.ndarray]]:
    """For a batch x (N, m): per level, each feature's true value (bool (N,)), where known.

    The truth comes from simulating the layered circuit (the compiler's own wires, carries and
    internal names included) level by level: the file's circuit map, or for ``/1`` files the
    circuit lowered again, where a name the lowering does not produce falls back to the
    source circuit's signal of that name (a carry ``s@k`` to ``s``). Pass ``layered`` (from
    :func:`lowered_circuit`) to skip lowering again when tracing many inputs.
    """
    n = x.shape[0]
    packed = pack_bits(x)
    layered = layered or lowered_circuit(network, circuit)
    per_level: list[dict[str, np.ndarray]] = (
        list(layered_levels(layered, packed))
        if layered is not None
        else [dict(zip(network.input_names, packed, strict=True))]
    )
    truths: list[dict[str, np.ndarray]] = []
    signals = set(circuit.inputs) | set(circuit.gate_map) if circuit is not None else set()
    cmap = network.circuit_map
    for i, fmap in enumerate(network.features):
        at = int(cmap.circuit_level[i]) if cmap is not None and i < len(cmap.circuit_level) else i
        known = per_level[at] if at < len(per_level) else {}
        rows, names = [], []
        fallback = []
        for name in fmap.names:
            if name in known:
                rows.append(known[name])
                names.append(name)
            elif carried_signal(name) in signals:
                fallback.append(name)
        if fallback and circuit is not None:
            sim = simulate_packed(circuit, packed, [carried_signal(s) for s in fallback])
            rows.extend(sim)
            names.extend(fallback)
        bits = unpack_bits(np.stack(rows), n) if rows else np.zeros((n, 0), bool)
        truths.append({name: bits[:, j] for j, name in enumerate(names)})
    return truths


def wire_noise(
    network: Network,
    circuit: Circuit | None,
    x: np.ndarray,
    thresholds: tuple[float, ...] = (0.1, 0.25, 0.5),
    layered: LayeredCircuit | None = None,
    budget: int = 1 << 24,
) -> list[dict[str, Any]]:
    """Per level, how far the wires' read-offs stray from their true values on a batch x
    (N, m): the share of samples with some wire off by more than each threshold, and the mean
    number of wires per sample off by more than the smallest. Noise that builds up with depth
    shows as shares that grow level after level; error correction should keep them flat.
    (Output read-offs are centred for the threshold at 1/2, so only the last threshold is
    meaningful at the last level.) Samples go through in chunks of about ``budget`` read-offs
    per level, so a million-wire network does not need a million-by-N matrix."""
    layered = layered or lowered_circuit(network, circuit)
    widest = max([1, *(len(f.names) for f in network.features)])
    chunk = max(1, budget // widest)
    wires: dict[int, int] = {}
    over: dict[int, np.ndarray] = {}  # per level: samples with a wire off by > each threshold
    noisy: dict[int, int] = {}  # per level: (wire, sample) pairs off by > the smallest
    firing: dict[int, int] = {}  # per level: (neuron, sample) pairs above 0

    for start in range(0, x.shape[0], chunk):
        part = x[start : start + chunk]
        truths = level_truths(network, circuit, part, layered)

        def grab(level: int, h: np.ndarray, truths=truths) -> None:
            if level >= len(network.features):
                return
            fmap, known = network.features[level], truths[level]
            idx = [f for f, name in enumerate(fmap.names) if name in known]
            if not idx:
                return
            read = read_off(fmap, h, idx)
            off = np.abs(read - np.stack([known[fmap.names[f]] for f in idx]))
            off[~np.isfinite(off)] = np.inf  # a blown-up read-off is as far off as it gets
            worst = off.max(axis=0)
            firing[level] = firing.get(level, 0) + int(np.count_nonzero(h))
            wires[level] = len(idx)
            over[level] = over.get(level, 0) + np.array([(worst > t).sum() for t in thresholds])
            noisy[level] = noisy.get(level, 0) + int((off > min(thresholds)).sum())

        network.forward(part, callback=grab)
    n = max(int(x.shape[0]), 1)
    sup = superposition(network)
    return [
        {
            "level": level,
            "wires": wires[level],
            "samples": int(x.shape[0]),
            "off_by": {str(t): float(c) / n for t, c in zip(thresholds, over[level], strict=True)},
            "noisy_wires_per_sample": noisy[level] / n,
            # neurons on per sample: in thresholded networks (--method deep) it rises above
            # what the active wires need before any wire reads wrong, an early warning
            "active_neurons_per_sample": firing[level] / n,
            **{k: sup[level][k] for k in ("neurons", "wires_per_neuron", "wires_served_max")},
        }
        for level in sorted(wires)
    ]


def level_readouts(
    network: Network, x: np.ndarray, active: list[int] | None = None
) -> list[np.ndarray]:
    """Per level, every feature's read-off ``R_i h_i + c_i`` for a batch: (F_i, N) float;
    ``active`` (if given) collects each level's count of activations above 0."""
    out: list[np.ndarray] = []

    def grab(level: int, h: np.ndarray) -> None:
        if active is not None:
            active.append(int(np.count_nonzero(h > 0)))
        if level < len(network.features):
            fmap = network.features[level]
            out.append(read_off(fmap, h))

    y = network.forward(x, callback=grab)
    out.append(y.T)
    return out


def trace(
    network: Network,
    ones: list[str],
    circuit: Circuit | None = None,
    layered: LayeredCircuit | None = None,
) -> Trace:
    """Run the input with exactly ``ones`` set, and pair every wire's read-off with its true
    value at every level; ``outputs`` pairs the network's outputs with the circuit's.
    ``circuit`` defaults to the one in the weights file; ``layered`` as for level_truths."""
    if circuit is None and network.circuit_map is None:
        circuit = embedded_circuit(network)
    layered = layered or lowered_circuit(network, circuit)
    x = input_vector(network, ones)
    truths = level_truths(network, circuit, x, layered)
    active: list[int] = []
    readouts = level_readouts(network, x, active)
    result = Trace(tuple(ones))
    result.stats = [
        {**row, "active_neurons": active[row["level"]]} for row in superposition(network)
    ]
    for level, fmap in enumerate(network.features):
        known = truths[level]
        kinds = level_kinds(network, level, circuit)
        values = readouts[level][:, 0].tolist()
        result.levels.append(
            [
                TraceRow(
                    name,
                    kinds[f] or "?",
                    int(known[name][0]) if name in known else None,
                    values[f],
                )
                for f, name in enumerate(fmap.names)
            ]
        )
    y = readouts[-1][:, 0].tolist()
    if network.circuit_map is not None and layered is not None:
        out = simulate_layered_packed(layered, pack_bits(x))
    else:
        assert circuit is not None
        out = simulate_packed(circuit, pack_bits(x))
    bits = unpack_bits(out, 1)[0].tolist()
    result.outputs = [
        TraceRow(name, "output", int(bits[j]), y[j]) for j, name in enumerate(network.output_names)
    ]
    return result
