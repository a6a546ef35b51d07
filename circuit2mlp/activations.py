"""Activation datasets with ground truth: stream samples through a compiled network and store,
per hidden level, the neuron activations beside the circuit wires that are truly active.

Why: a sparse autoencoder (or transcoder, or circuit-discovery method) trained on these
activations can be scored against the truth — which wire is on in each sample, and in which
direction each wire is read from and written into the level (docs/interpretability.md,
"Activation datasets"). Everything is streamed in chunks so that 10^5 samples of a wide network
never sit in memory at once.

Layout of a dataset folder (``manifest.json`` documents it too):

- ``shard-NNNNN.safetensors``: ``inputs.indptr`` / ``inputs.indices`` (the active inputs, CSR
  over the shard's rows), and per stored level i ``level{i}.activations`` (rows, d_i) float32
  and ``level{i}.wires.indptr`` / ``level{i}.wires.indices`` (the truly active wires, CSR).
- ``features.safetensors``: per level the read-off matrix (``level{i}.readout.data`` /
  ``.indices`` / ``.indptr`` / ``.shape``, CSR as in the weights file), ``level{i}.readout_bias``,
  the write directions ``level{i}.write`` (F, d_i), ``level{i}.active_count`` (F,) and
  ``level{i}.mean`` / ``level{i}.quiet_mean`` (d_i,).
- ``true_dictionary-level{i}.safetensors``: the ground truth as a JumpReLU dictionary with
  SAELens names (``W_enc``, ``b_enc``, ``threshold``, ``W_dec``, ``b_dec``), for ``score``.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import scipy.sparse as sp

from circuit2mlp.errors import UserError
from circuit2mlp.network import Network

FORMAT = "circuit2mlp-activations/1"
SHARD_BYTES = 64 << 20  # activations per shard (all stored levels together)
DIRECTION_BUDGET = 1 << 28  # largest F × d accumulated for write directions (2 GiB in float64)
DISTRIBUTIONS = ("uniform", "khot", "bernoulli", "zipf")


# --------------------------------------------------------------------------- inputs


@dataclass
class InputDistribution:
    """How input samples are drawn (all from one seeded numpy Generator).

    - ``khot``: exactly ``k`` inputs on, the support uniform;
    - ``uniform``: k uniform in 0..``sparsity``, then k-hot (what ``verify`` checks, mixed);
    - ``bernoulli``: input j on independently with probability ``rates[j]``;
    - ``zipf``: Bernoulli with rates ∝ rank^-``exponent`` (ranks shuffled over the inputs),
      scaled so that ``mean_active`` inputs are on on average (rates capped at 1).
    """

    kind: str
    m: int
    k: int = 0
    sparsity: int = 3
    rates: np.ndarray | None = None
    exponent: float = 1.0
    mean_active: float = 3.0

    def check(self, label: str = "activations") -> None:
        """Refuse parameters the distribution cannot honour (one-line UserError)."""
        if self.kind not in DISTRIBUTIONS:
            raise UserError(f"{label}: unknown distribution '{self.kind}'")
        if self.kind == "khot" and not 0 <= self.k <= self.m:
            raise UserError(f"{label}: k = {self.k} is not between 0 and the {self.m} inputs")
        if self.kind == "uniform" and not 0 <= self.sparsity <= self.m:
            raise UserError(f"{label}: sparsity {self.sparsity} exceeds the {self.m} inputs")
        if self.kind == "bernoulli":
            rates = self.rates
            if rates is None or rates.shape != (self.m,):
                raise UserError(f"{label}: bernoulli needs {self.m} rates (one per input)")
            if not np.all(np.isfinite(rates)) or rates.min() < 0 or rates.max() > 1:
                raise UserError(f"{label}: bernoulli rates must lie in [0, 1]")
        if self.kind == "zipf" and not (self.mean_active > 0 and self.exponent >= 0):
            raise UserError(f"{label}: zipf needs --mean-active > 0 and --zipf-exponent >= 0")

    def input_rates(self, rng: np.random.Generator) -> np.ndarray | None:
        """Per-input on-probabilities for the Bernoulli kinds (zipf draws its rank order)."""
        if self.kind == "bernoulli":
            return np.asarray(self.rates, dtype=np.float64)
        if self.kind == "zipf":
            weights = np.arange(1, self.m + 1, dtype=np.float64) ** -self.exponent
            rates = np.minimum(1.0, weights * self.mean_active / weights.sum())
            return rates[rng.permutation(self.m)]
        return None

    def describe(self) -> dict[str, Any]:
        """JSON-ready parameters (rates summarised, not listed)."""
        out: dict[str, Any] = {"kind": self.kind, "m": self.m}
        if self.kind == "khot":
            out["k"] = self.k
        elif self.kind == "uniform":
            out["sparsity"] = self.sparsity
        elif self.kind == "bernoulli":
            out["mean_active"] = float(np.sum(self.rates))
        else:
            out.update(exponent=self.exponent, mean_active=self.mean_active)
        return out


class Sampler:
    """Draws chunks of input rows from an :class:`InputDistribution` with one Generator, so a
    seed fixes the whole stream (for a given chunk size)."""

    def __init__(self, dist: InputDistribution, seed: int) -> None:
        self.dist = dist
        self.rng = np.random.default_rng(seed)
        self.rates = dist.input_rates(self.rng)

    def draw(self, n: int) -> np.ndarray:
        """(n, m) uint8 rows."""
        d = self.dist
        if self.rates is not None:
            return (self.rng.random((n, d.m)) < self.rates).astype(np.uint8)
        if d.kind == "khot":
            return k_hot(d.m, np.full(n, d.k), self.rng)
        return k_hot(d.m, self.rng.integers(0, d.sparsity + 1, size=n), self.rng)


def k_hot(m: int, ks: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Rows with ks[r] distinct inputs on, each support uniform: column r gets the ks[r]
    smallest of m uniform keys (an argpartition per row, vectorised)."""
    n = len(ks)
    rows = np.zeros((n, m), dtype=np.uint8)
    top = int(ks.max(initial=0))
    if top == 0 or n == 0:
        return rows
    keys = rng.random((n, m))
    chosen = np.argpartition(keys, top - 1, axis=1)[:, :top] if top < m else np.argsort(keys)
    order = np.argsort(np.take_along_axis(keys, chosen, axis=1), axis=1)
    chosen = np.take_along_axis(chosen, order, axis=1)
    keep = np.arange(top)[None, :] < ks[:, None]
    rows[np.nonzero(keep)[0], chosen[keep]] = 1
    return rows


# --------------------------------------------------------------------------- truth


class WireTruth:
    """The true value of every wire of every level for a batch of inputs, as CSR (N, F_i)
    bool matrices of the active wires.

    Truth is the circuit, not the network: the lowered circuit (the compiler's own wires,
    carries and internal names) is simulated bit-parallel level by level; a feature name the
    lowering does not produce falls back to the source circuit's signal of that name (see
    :func:`circuit2mlp.interp.level_truths`).
    """

    def __init__(self, network: Network, label: str = "weights") -> None:
        from circuit2mlp.interp import carried_signal, embedded_circuit, lowered_circuit

        self.network = network
        self.circuit = embedded_circuit(network, label)
        self.layered = lowered_circuit(network, self.circuit)
        signals = set(self.circuit.inputs) | set(self.circuit.gate_map)
        available = [set(self.circuit.inputs)]
        if self.layered is not None:
            available += [{g.name for g in gates} for gates in self.layered.layers]
        self.fallback: list[list[str]] = []
        for i, fmap in enumerate(network.features):
            known = available[i] if i < len(available) else set()
            missing = [n for n in fmap.names if n not in known]
            unknown = [n for n in missing if carried_signal(n) not in signals]
            if unknown:
                raise UserError(f"{label}: no ground truth for wire '{unknown[0]}' at level {i}")
            self.fallback.append(missing)

    def levels(self, x: np.ndarray, wanted: set[int] | None = None) -> dict[int, sp.csr_matrix]:
        """Per level (all, or ``wanted``): CSR (N, F) of the wires that are 1 on x (N, m)."""
        from circuit2mlp.interp import carried_signal
        from circuit2mlp.simulate import eval_gate_packed, pack_bits, simulate_packed

        n = x.shape[0]
        packed = pack_bits(x)
        words = packed.shape[1]
        level = dict(zip(self.circuit.inputs, packed, strict=True))
        per_level = [level]
        last = max(wanted) if wanted else len(self.network.features) - 1
        if self.layered is not None:
            for gates in self.layered.layers[:last]:
                level = {
                    g.name: eval_gate_packed(g, [level[s] for s in g.fanin], words) for g in gates
                }
                per_level.append(level)
        out: dict[int, sp.csr_matrix] = {}
        for i, fmap in enumerate(self.network.features):
            if wanted is not None and i not in wanted:
                continue
            values = per_level[i] if i < len(per_level) else {}
            extra = {}
            if self.fallback[i]:
                sim = simulate_packed(
                    self.circuit, packed, [carried_signal(s) for s in self.fallback[i]]
                )
                extra = dict(zip(self.fallback[i], sim, strict=True))
            rows = np.stack([values[s] if s in values else extra[s] for s in fmap.names])
            out[i] = packed_to_csr(rows, n)
        return out


def packed_to_csr(packed: np.ndarray, n: int) -> sp.csr_matrix:
    """(F, W) uint64 bit rows (sample j = word j // 64, bit j % 64) → CSR (n, F) bool with
    sorted indices, touching only non-zero words (active wires are few)."""
    f_idx, w_idx = np.nonzero(packed)
    words = np.ascontiguousarray(packed[f_idx, w_idx], dtype="<u8")
    bits = np.unpackbits(words.view(np.uint8).reshape(-1, 8), axis=1, bitorder="little")
    hit, bit = np.nonzero(bits)
    samples = w_idx[hit] * 64 + bit
    wires = f_idx[hit]
    keep = samples < n
    samples, wires = samples[keep], wires[keep]
    order = np.lexsort((wires, samples))
    indptr = np.zeros(n + 1, dtype=np.int64)
    np.cumsum(np.bincount(samples, minlength=n), out=indptr[1:])
    data = np.ones(len(order), dtype=bool)
    return sp.csr_matrix((data, wires[order].astype(np.int32), indptr), shape=(n, packed.shape[0]))


# --------------------------------------------------------------------------- directions


class DirectionStats:
    """Running sums for one level's write directions.

    The write direction of wire f is the difference of the level's mean activation on samples
    where f is 1 and on samples where it is 0, w_f = E[h | f] − E[h | not f] (the "difference
    of means" direction): what the wire adds to the level, in neurons, on the sampled
    distribution. Wires never on in the samples get a zero direction and count 0.
    """

    def __init__(self, features: int, width: int) -> None:
        self.active_sum = np.zeros((features, width), dtype=np.float64)
        self.count = np.zeros(features, dtype=np.int64)
        self.total = np.zeros(width, dtype=np.float64)
        self.quiet = np.zeros(width, dtype=np.float64)  # samples with no wire on
        self.quiet_count = 0
        self.n = 0

    def add(self, h: np.ndarray, wires: sp.csr_matrix, piece: int = 1 << 22) -> None:
        """Add a chunk: h (N, d) activations, wires (N, F) the active wires."""
        self.n += h.shape[0]
        self.total += h.sum(axis=0, dtype=np.float64)
        quiet = np.diff(wires.indptr) == 0
        self.quiet_count += int(quiet.sum())
        self.quiet += h[quiet].sum(axis=0, dtype=np.float64)
        coo = wires.tocoo()
        order = np.argsort(coo.col, kind="stable")
        rows, cols = coo.row[order], coo.col[order]
        self.count += np.bincount(cols, minlength=self.count.size)
        step = max(1, piece // max(h.shape[1], 1))
        for start in range(0, len(rows), step):
            r, c = rows[start : start + step], cols[start : start + step]
            firsts = np.flatnonzero(np.r_[True, c[1:] != c[:-1]])
            sums = np.add.reduceat(h[r].astype(np.float64), firsts, axis=0)
            self.active_sum[c[firsts]] += sums

    def directions(self, block: int = 1 << 22) -> np.ndarray:
        """(F, d) float32 write directions, computed in blocks of rows (no F × d float64
        temporaries beyond ``block`` entries)."""
        features, width = self.active_sum.shape
        out = np.zeros((features, width), dtype=np.float32)
        step = max(1, block // max(width, 1))
        for start in range(0, features, step):
            stop = min(features, start + step)
            count = self.count[start:stop, None]
            seen = self.count[start:stop] > 0
            sums = self.active_sum[start:stop][seen]
            on = sums / count[seen]
            off = (self.total[None, :] - sums) / np.maximum(self.n - count[seen], 1)
            out[start:stop][seen] = on - off
        return out

    def mean(self) -> np.ndarray:
        return (self.total / max(self.n, 1)).astype(np.float32)

    def quiet_mean(self) -> np.ndarray:
        return (self.quiet / max(self.quiet_count, 1)).astype(np.float32)


def _width(network: Network, level: int) -> int:
    return int(network.features[level].readout.shape[1])


# --------------------------------------------------------------------------- streaming


def hidden_levels(network: Network) -> list[int]:
    """The hidden levels (1 .. L) that carry features."""
    return [i for i in range(1, len(network.layers) + 1) if i < len(network.features)]


def stream(
    network: Network,
    sampler: Sampler,
    n: int,
    levels: list[int],
    chunk: int,
    truth: WireTruth | None = None,
) -> Iterator[tuple[np.ndarray, dict[int, np.ndarray], dict[int, sp.csr_matrix]]]:
    """Yield (inputs (c, m) uint8, {level: activations (c, d) float32}, {level: wires CSR})
    for n samples in chunks of at most ``chunk`` rows."""
    truth = truth or WireTruth(network)
    wanted = set(levels)
    done = 0
    while done < n:
        rows = min(chunk, n - done)
        x = sampler.draw(rows)
        acts: dict[int, np.ndarray] = {}

        def grab(level: int, h: np.ndarray, acts=acts) -> None:
            if level in wanted:
                acts[level] = np.ascontiguousarray(h.T, dtype=np.float32)

        network.forward(x, callback=grab)
        yield x, acts, truth.levels(x, wanted)
        done += rows


def rows_per_shard(network: Network, levels: list[int], shard_bytes: int = SHARD_BYTES) -> int:
    """Rows whose activations (all stored levels) take about ``shard_bytes``."""
    per_row = 4 * sum(_width(network, i) for i in levels) or 4
    return max(1, min(1 << 20, shard_bytes // per_row))


@dataclass
class Manifest:
    """What ``manifest.json`` holds (see docs/interpretability.md)."""

    format: str
    weights: str
    samples: int
    seed: int
    distribution: dict[str, Any]
    shards: list[dict[str, Any]] = field(default_factory=list)
    levels: list[dict[str, Any]] = field(default_factory=list)
    meta: dict[str, Any] = field(default_factory=dict)


def _csr_tensors(prefix: str, matrix: sp.csr_matrix) -> dict[str, np.ndarray]:
    return {
        f"{prefix}.indptr": np.ascontiguousarray(matrix.indptr, dtype=np.int64),
        f"{prefix}.indices": np.ascontiguousarray(matrix.indices, dtype=np.int32),
    }


def write_dataset(
    network: Network,
    weights: str,
    out: Path,
    n: int,
    dist: InputDistribution,
    seed: int,
    levels: list[int] | None = None,
    shard_rows: int | None = None,
    directions: bool = True,
    progress: Callable[[int], None] | None = None,
) -> Manifest:
    """Write an activation dataset for ``n`` samples into folder ``out`` (created; it must not
    exist or be empty). Written into a temporary folder beside it and renamed when complete,
    so a failure leaves nothing behind."""
    from circuit2mlp.optional import require

    save_file = require("safetensors.numpy", "circuit2mlp activations").save_file
    levels = hidden_levels(network) if levels is None else levels
    if not levels:
        raise UserError(f"{weights}: the network has no hidden level with features")
    for level in levels:
        if level < 0 or level >= len(network.features):
            raise UserError(f"{weights}: no level {level} (levels 0..{len(network.features) - 1})")
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise UserError(f"{out}: already exists and is not an empty folder")
    dist.check(weights)
    if directions:
        for level in levels:
            size = len(network.features[level].names) * _width(network, level)
            if size > DIRECTION_BUDGET:
                raise UserError(
                    f"{weights}: level {level} has {size:,} wire × neuron directions, more "
                    f"than {DIRECTION_BUDGET:,}; pass --no-directions"
                )
    truth = WireTruth(network, weights)
    sampler = Sampler(dist, seed)
    shard_rows = shard_rows or rows_per_shard(network, levels)
    parent = out.parent if str(out.parent) else Path(".")
    parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.", suffix=".tmp", dir=parent))
    try:
        stats = (
            {i: DirectionStats(len(network.features[i].names), _width(network, i)) for i in levels}
            if directions
            else {}
        )
        manifest = Manifest(FORMAT, str(weights), n, seed, {**dist.describe(), "seed": seed})
        start = 0
        for index, (x, acts, wires) in enumerate(
            stream(network, sampler, n, levels, shard_rows, truth)
        ):
            tensors = _csr_tensors("inputs", sp.csr_matrix(x.astype(bool)))
            for i in levels:
                tensors[f"level{i}.activations"] = acts[i]
                tensors.update(_csr_tensors(f"level{i}.wires", wires[i]))
                if directions:
                    stats[i].add(acts[i], wires[i])
            name = f"shard-{index:05d}.safetensors"
            save_file(tensors, str(tmp / name), metadata={"format": FORMAT, "start": str(start)})
            manifest.shards.append({"file": name, "start": start, "rows": int(x.shape[0])})
            start += int(x.shape[0])
            del tensors, acts
            if progress:
                progress(int(x.shape[0]))
        feats: dict[str, np.ndarray] = {}
        for i in levels:
            fmap = network.features[i]
            r = sp.csr_matrix(fmap.readout, dtype=np.float32)
            feats[f"level{i}.readout.data"] = r.data
            feats[f"level{i}.readout.indices"] = r.indices.astype(np.int64)
            feats[f"level{i}.readout.indptr"] = r.indptr.astype(np.int64)
            feats[f"level{i}.readout.shape"] = np.asarray(r.shape, dtype=np.int64)
            feats[f"level{i}.readout_bias"] = np.asarray(fmap.bias, dtype=np.float32)
            entry: dict[str, Any] = {
                "level": i,
                "neurons": _width(network, i),
                "wires": len(fmap.names),
                "wire_names": list(fmap.names),
                "directions": directions,
            }
            if directions:
                s = stats.pop(i)
                write = s.directions()
                del s.active_sum  # F × d float64: free it before the dictionary is built
                feats[f"level{i}.write"] = write
                feats[f"level{i}.active_count"] = s.count
                feats[f"level{i}.mean"] = s.mean()
                feats[f"level{i}.quiet_mean"] = s.quiet_mean()
                entry["wires_seen"] = int(np.count_nonzero(s.count))
                entry["mean_active_wires"] = float(s.count.sum() / max(n, 1))
                save_file(
                    true_dictionary(r, fmap.bias, write, s.quiet_mean()),
                    str(tmp / f"true_dictionary-level{i}.safetensors"),
                    metadata={"architecture": "jumprelu", "level": str(i)},
                )
                entry["true_dictionary"] = f"true_dictionary-level{i}.safetensors"
            manifest.levels.append(entry)
        save_file(feats, str(tmp / "features.safetensors"), metadata={"format": FORMAT})
        manifest.meta = {k: network.meta.get(k) for k in ("circuit", "method", "sparsity", "seed")}
        (tmp / "manifest.json").write_text(json.dumps(asdict(manifest), indent=1) + "\n")
        for item in tmp.iterdir():
            item.chmod(0o644)
        tmp.chmod(0o755)
        if out.exists():
            out.rmdir()
        os.replace(tmp, out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return manifest


def true_dictionary(
    readout: sp.csr_matrix, bias: np.ndarray, write: np.ndarray, quiet_mean: np.ndarray
) -> dict[str, np.ndarray]:
    """The ground truth as a JumpReLU dictionary with SAELens names: latent f is wire f's
    read-off ``h @ W_enc[:, f] + b_enc[f]``, kept where it exceeds 0.5 (the wire reads as 1),
    decoded along its write direction from the mean activation of samples with no wire on."""
    features = readout.shape[0]
    return {
        "W_enc": np.ascontiguousarray(readout.T.toarray(), dtype=np.float32),
        "b_enc": np.asarray(bias, dtype=np.float32),
        "threshold": np.full(features, 0.5, dtype=np.float32),
        "W_dec": np.ascontiguousarray(write, dtype=np.float32),
        "b_dec": np.asarray(quiet_mean, dtype=np.float32),
    }


# --------------------------------------------------------------------------- reading


class ActivationDataset:
    """Read a dataset folder written by :func:`write_dataset`: one level's activations and
    true wires, by shard or by row. Plain numpy; see :func:`torch_dataset` for PyTorch."""

    def __init__(self, folder: str | os.PathLike, level: int | None = None) -> None:
        self.folder = Path(folder)
        path = self.folder / "manifest.json"
        try:
            data = json.loads(path.read_text())
        except FileNotFoundError:
            raise UserError(
                f"{self.folder}: not an activation dataset (no manifest.json)"
            ) from None
        except (OSError, ValueError) as exc:
            raise UserError(f"{path}: unreadable manifest ({exc})") from None
        if not isinstance(data, dict) or data.get("format") != FORMAT:
            raise UserError(f"{path}: not a {FORMAT} manifest")
        self.manifest = data
        stored = [e["level"] for e in data["levels"]]
        self.level = stored[-1] if level is None else level
        if self.level not in stored:
            raise UserError(f"{self.folder}: level {self.level} not stored (levels {stored})")
        self.entry = data["levels"][stored.index(self.level)]
        self.shards = data["shards"]
        self.starts = np.array([s["start"] for s in self.shards] + [data["samples"]])
        self._cache: tuple[int, dict[str, np.ndarray]] | None = None

    def __len__(self) -> int:
        return int(self.manifest["samples"])

    @property
    def wire_names(self) -> list[str]:
        return list(self.entry["wire_names"])

    @property
    def width(self) -> int:
        return int(self.entry["neurons"])

    def shard(self, index: int) -> tuple[np.ndarray, sp.csr_matrix]:
        """(activations (rows, d) float32, wires CSR (rows, F) bool) of one shard."""
        tensors = self._load(index)
        return tensors["acts"], tensors["wires"]

    def _load(self, index: int) -> dict[str, Any]:
        if self._cache is not None and self._cache[0] == index:
            return self._cache[1]
        from circuit2mlp.optional import require

        load_file = require("safetensors.numpy", "reading an activation dataset").load_file
        path = self.folder / self.shards[index]["file"]
        try:
            raw = load_file(str(path))
        except Exception as exc:  # safetensors raises its own error types
            raise UserError(f"{path}: unreadable shard ({exc})") from None
        i = self.level
        acts = raw[f"level{i}.activations"]
        indptr, indices = raw[f"level{i}.wires.indptr"], raw[f"level{i}.wires.indices"]
        wires = sp.csr_matrix(
            (np.ones(len(indices), bool), indices, indptr),
            shape=(acts.shape[0], int(self.entry["wires"])),
        )
        inputs = sp.csr_matrix(
            (
                np.ones(len(raw["inputs.indices"]), bool),
                raw["inputs.indices"],
                raw["inputs.indptr"],
            ),
            shape=(acts.shape[0], int(self.manifest["distribution"]["m"])),
        )
        loaded = {"acts": acts, "wires": wires, "inputs": inputs}
        self._cache = (index, loaded)
        return loaded

    def chunks(self, limit: int | None = None) -> Iterator[tuple[np.ndarray, sp.csr_matrix]]:
        """(activations, wires) shard by shard, the first ``limit`` rows in all."""
        left = len(self) if limit is None else min(limit, len(self))
        for index in range(len(self.shards)):
            if left <= 0:
                return
            acts, wires = self.shard(index)
            take = min(left, acts.shape[0])
            yield acts[:take], wires[:take]
            left -= take

    def rows(self, index: np.ndarray) -> np.ndarray:
        """Activations of the given sample rows (any order), shard by shard."""
        index = np.asarray(index, dtype=np.int64)
        out = np.empty((len(index), self.width), dtype=np.float32)
        shard_of = np.searchsorted(self.starts, index, side="right") - 1
        for s in np.unique(shard_of):
            pick = np.flatnonzero(shard_of == s)
            acts, _ = self.shard(int(s))
            out[pick] = acts[index[pick] - self.starts[s]]
        return out

    def features(self) -> dict[str, np.ndarray]:
        """This level's tensors of features.safetensors (names without the level prefix)."""
        from circuit2mlp.optional import require

        load_file = require("safetensors.numpy", "reading an activation dataset").load_file
        prefix = f"level{self.level}."
        raw = load_file(str(self.folder / "features.safetensors"))
        return {k[len(prefix) :]: v for k, v in raw.items() if k.startswith(prefix)}

    def item(self, row: int) -> tuple[np.ndarray, np.ndarray]:
        """(activations (d,), active wire indices) of one sample."""
        if not 0 <= row < len(self):
            raise IndexError(row)
        s = int(np.searchsorted(self.starts, row, side="right") - 1)
        acts, wires = self.shard(s)
        r = row - int(self.starts[s])
        return acts[r], wires.indices[wires.indptr[r] : wires.indptr[r + 1]]


def torch_dataset(folder: str | os.PathLike, level: int | None = None):
    """A ``torch.utils.data.Dataset`` over one level: item r is ``(activations (d,) float32
    tensor, wires (F,) float32 0/1 tensor)``. Needs torch (a one-line error when missing)."""
    from circuit2mlp.optional import require

    torch = require("torch", "circuit2mlp.activations.torch_dataset")

    class _Dataset(torch.utils.data.Dataset):
        def __init__(self) -> None:
            self.data = ActivationDataset(folder, level)

        def __len__(self) -> int:
            return len(self.data)

        def __getitem__(self, row: int):
            acts, active = self.data.item(int(row))
            wires = torch.zeros(int(self.data.entry["wires"]), dtype=torch.float32)
            wires[torch.from_numpy(active.astype(np.int64))] = 1.0
            return torch.from_numpy(np.array(acts)), wires

    return _Dataset()


def batches(
    folder: str | os.PathLike,
    level: int | None = None,
    batch_size: int = 4096,
    seed: int = 0,
    epochs: int | None = None,
):
    """Shuffled batches of one level's activations as float32 torch tensors (batch, d),
    endlessly (or for ``epochs`` passes): the ``DataProvider`` that SAELens' ``SAETrainer``
    takes (an iterator of activation batches). Shards are read one at a time in a seeded random
    order and their rows shuffled, so memory stays at one shard."""
    from circuit2mlp.optional import require

    torch = require("torch", "circuit2mlp.activations.batches")
    data = ActivationDataset(folder, level)
    rng = np.random.default_rng(seed)
    done = 0
    carry = np.zeros((0, data.width), dtype=np.float32)
    while epochs is None or done < epochs:
        for index in rng.permutation(len(data.shards)):
            acts, _ = data.shard(int(index))
            pool = np.concatenate([carry, acts[rng.permutation(acts.shape[0])]])
            full = pool.shape[0] // batch_size * batch_size
            for start in range(0, full, batch_size):
                yield torch.from_numpy(pool[start : start + batch_size].copy())
            carry = pool[full:]
        done += 1


def default_distribution(network: Network) -> InputDistribution:
    """k uniform in 0..s, with s the sparsity the network was compiled for."""
    m = len(network.input_names)
    return InputDistribution("uniform", m, sparsity=min(int(network.meta.get("sparsity", 3)), m))


def rough_bytes(network: Network, levels: list[int], n: int) -> int:
    """Bytes of activations n samples take on disk (for messages)."""
    return 4 * n * sum(_width(network, i) for i in levels)


__all__ = [
    "ActivationDataset",
    "InputDistribution",
    "Sampler",
    "WireTruth",
    "batches",
    "default_distribution",
    "k_hot",
    "torch_dataset",
    "write_dataset",
]
