"""Score a learned dictionary (a sparse autoencoder, transcoder latents, ...) against the
ground-truth wires of one level of a compiled network.

A dictionary is a safetensors file with SAELens tensor names: ``W_dec`` (latents × neurons),
optionally ``W_enc`` (neurons × latents), ``b_enc``, ``b_dec`` and ``threshold`` (JumpReLU);
metadata ``architecture`` (``standard`` | ``topk`` | ``jumprelu``), ``k`` (TopK) and
``apply_b_dec_to_input`` ("true" subtracts ``b_dec`` before encoding). Without an encoder the
latents are inferred from the decoder alone with its pseudo-inverse, clamped at zero:
``a = relu((h - b_dec) @ pinv(W_dec))``.

Everything is computed in chunks, never as a dense samples × latents or wires × latents matrix
beyond ``BLOCK`` entries, and the samples × wires truth is sparse. Definitions are in
docs/interpretability.md ("Scoring a dictionary").
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import scipy.sparse as sp

from circuit2mlp.activations import (
    ActivationDataset,
    DirectionStats,
    InputDistribution,
    Sampler,
    WireTruth,
)
from circuit2mlp.errors import UserError
from circuit2mlp.network import Network

BLOCK = 1 << 22  # entries of any dense (rows or wires) × latents block
CACHE_BYTES = 1 << 30  # activations of samples with a wire on kept for pass 2 (else re-read)
HUNGARIAN_LIMIT = 1 << 24  # wires × latents up to which the one-to-one matching is computed
RECOVER_COS = 0.9  # a recovered wire has a latent this close in direction ...
RECOVER_F1 = 0.9  # ... whose firing matches the wire's with this F1
SPLIT_PRECISION = 0.9  # a latent of a split wire fires mostly when the wire is on ...
SPLIT_RECALL = 0.1  # ... on at least this share of the wire's samples
COVER_RECALL = 0.9  # a latent covers a wire when it fires on this share of its samples
ABSORB_PRECISION = 0.9  # ... and absorbs it when it covers others and fires off its own wire


# --------------------------------------------------------------------------- dictionaries


@dataclass
class Dictionary:
    """A learned dictionary, ready to encode activations into latent activations."""

    W_dec: np.ndarray  # (L, d)
    W_enc: np.ndarray | sp.csr_matrix  # (d, L)
    b_enc: np.ndarray  # (L,)
    b_dec: np.ndarray  # (d,)
    threshold: np.ndarray | None
    k: int | None
    apply_b_dec: bool
    encoder: str  # "W_enc" or "pinv"
    architecture: str

    @property
    def latents(self) -> int:
        return int(self.W_dec.shape[0])

    def encode(self, h: np.ndarray) -> np.ndarray:
        """Latent activations (n, L) float32 of activations h (n, d)."""
        x = h - self.b_dec if self.apply_b_dec else h
        if sp.issparse(self.W_enc):  # e.g. the true dictionary: sparse × sparse is cheap
            pre = (sp.csr_matrix(x) @ self.W_enc).toarray().astype(np.float32, copy=False)
        else:
            pre = x @ self.W_enc
        pre += self.b_enc
        if self.k is not None:
            k = min(self.k, pre.shape[1])
            cut = np.partition(pre, pre.shape[1] - k, axis=1)[:, pre.shape[1] - k][:, None]
            pre = np.where(pre >= cut, pre, 0.0).astype(np.float32)
        if self.threshold is not None:
            pre = np.where(pre > self.threshold, pre, 0.0).astype(np.float32)
        return np.maximum(pre, 0, out=pre)


def _sibling_config(path: Path) -> dict[str, str]:
    """Settings from a ``cfg.json`` beside the file, as SAELens' ``save_inference_model``
    writes (``architecture``, ``k``, ``apply_b_dec_to_input``); {} when absent."""
    cfg = path.parent / "cfg.json"
    try:
        data = json.loads(cfg.read_text())
    except (OSError, ValueError):
        return {}
    if not isinstance(data, dict):
        return {}
    out = {}
    for key in ("architecture", "k", "apply_b_dec_to_input"):
        if key in data and data[key] is not None:
            out[key] = str(data[key]).lower() if isinstance(data[key], bool) else str(data[key])
    return out


def load_dictionary(path: Path, width: int) -> Dictionary:
    """Read a SAELens-named safetensors dictionary for a level of ``width`` neurons."""
    from circuit2mlp.optional import require

    safe_open = require("safetensors", "circuit2mlp score").safe_open
    if path.is_dir():  # a folder as SAELens saves it
        path = path / "sae_weights.safetensors"
    try:
        with safe_open(str(path), framework="np") as f:
            meta = f.metadata() or {}
            tensors = {name: f.get_tensor(name) for name in f.keys()}  # noqa: SIM118
    except FileNotFoundError:
        raise UserError(f"{path}: no such file") from None
    except Exception as exc:  # safetensors raises its own error types for foreign files
        raise UserError(f"{path}: not a safetensors dictionary ({exc})") from None
    if "W_dec" not in tensors:
        raise UserError(f"{path}: no W_dec tensor (latents × neurons)")
    w_dec = np.asarray(tensors["W_dec"], dtype=np.float32)
    if w_dec.ndim != 2 or w_dec.shape[1] != width:
        raise UserError(f"{path}: W_dec has shape {w_dec.shape}, expected (latents, {width})")
    latents = w_dec.shape[0]

    def vector(name: str, size: int, default: float | None = 0.0) -> np.ndarray | None:
        if name not in tensors:
            return None if default is None else np.full(size, default, dtype=np.float32)
        v = np.asarray(tensors[name], dtype=np.float32).ravel()
        if v.shape != (size,):
            raise UserError(f"{path}: {name} has {v.size} values, expected {size}")
        return v

    b_dec = vector("b_dec", width)
    b_enc = vector("b_enc", latents)
    threshold = vector("threshold", latents, None)
    for name, array in tensors.items():
        if not np.all(np.isfinite(array)):
            raise UserError(f"{path}: {name} holds NaN or infinite values")
    meta = {**_sibling_config(path), **meta}
    apply = str(meta.get("apply_b_dec_to_input", "false")).lower() == "true"
    arch = str(meta.get("architecture", "jumprelu" if threshold is not None else "standard"))
    k = None
    if arch == "topk" or "k" in meta:
        try:
            k = int(meta["k"])
        except (KeyError, ValueError):
            raise UserError(f"{path}: a topk dictionary needs an integer 'k' in metadata") from None
    if "W_enc" in tensors:
        w_enc = np.asarray(tensors["W_enc"], dtype=np.float32)
        if w_enc.shape != (width, latents):
            raise UserError(f"{path}: W_enc has shape {w_enc.shape}, expected {(width, latents)}")
        encoder = "W_enc"
        if np.count_nonzero(w_enc) * 10 < w_enc.size:  # mostly zeros: a sparse product
            w_enc = sp.csr_matrix(w_enc)
    else:
        w_enc = np.linalg.pinv(w_dec.astype(np.float64)).astype(np.float32)
        b_enc = np.zeros(latents, dtype=np.float32)
        apply, encoder = True, "pinv"
    return Dictionary(w_dec, w_enc, b_enc, b_dec, threshold, k, apply, encoder, arch)


# --------------------------------------------------------------------------- sources


class Source:
    """Samples of one level: chunks of (activations, active wires) in order, and the
    activations of any rows again (for the second pass)."""

    n: int
    write: np.ndarray | None = None  # (F, d) write directions when known up front

    def chunks(self, rows: int) -> Iterator[tuple[np.ndarray, sp.csr_matrix]]:
        raise NotImplementedError

    def rows(self, index: np.ndarray) -> np.ndarray:
        raise NotImplementedError


class DatasetSource(Source):
    """A folder written by ``circuit2mlp activations``."""

    def __init__(self, folder: Path, level: int, limit: int) -> None:
        self.data = ActivationDataset(folder, level)
        self.n = min(limit, len(self.data))
        feats = self.data.features()
        self.write = feats.get("write")

    def chunks(self, rows: int) -> Iterator[tuple[np.ndarray, sp.csr_matrix]]:
        for acts, wires in self.data.chunks(self.n):
            for start in range(0, acts.shape[0], rows):
                yield acts[start : start + rows], wires[start : start + rows]

    def rows(self, index: np.ndarray) -> np.ndarray:
        return self.data.rows(index)


class SampledSource(Source):
    """Samples drawn now: the inputs are kept (sparse), activations recomputed on demand."""

    def __init__(
        self, network: Network, level: int, dist: InputDistribution, n: int, seed: int, label: str
    ) -> None:
        self.network, self.level, self.n = network, level, n
        self.truth = WireTruth(network, label)
        self.sampler = Sampler(dist, seed)
        self.inputs: list[sp.csr_matrix] = []

    def _acts(self, x: np.ndarray) -> np.ndarray:
        out: list[np.ndarray] = []

        def grab(level: int, h: np.ndarray) -> None:
            if level == self.level:
                out.append(np.ascontiguousarray(h.T, dtype=np.float32))

        self.network.forward(x, callback=grab)
        return out[0]

    def chunks(self, rows: int) -> Iterator[tuple[np.ndarray, sp.csr_matrix]]:
        self.inputs = []
        done = 0
        while done < self.n:
            x = self.sampler.draw(min(rows, self.n - done))
            self.inputs.append(sp.csr_matrix(x))
            yield self._acts(x), self.truth.levels(x, {self.level})[self.level]
            done += x.shape[0]

    def rows(self, index: np.ndarray) -> np.ndarray:
        if len(self.inputs) != 1:
            self.inputs = [sp.vstack(self.inputs).tocsr()]
        return self._acts(self.inputs[0][index].toarray())


# --------------------------------------------------------------------------- scoring


def _unit_rows(matrix: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(matrix, axis=1, keepdims=True)
    return np.divide(matrix, norms, out=np.zeros_like(matrix), where=norms > 0)


def score_level(
    network: Network,
    sae: Dictionary,
    level: int,
    folder: Path | None,
    samples: int,
    dist: InputDistribution,
    seed: int = 0,
    dense_threshold: float = 0.1,
    label: str = "weights",
    progress: Callable[[str], None] | None = None,
) -> dict[str, Any]:
    """All scores of ``sae`` against level ``level`` (see docs/interpretability.md)."""
    say = progress or (lambda _text: None)
    source: Source = (
        DatasetSource(folder, level, samples)
        if folder is not None
        else SampledSource(network, level, dist, samples, seed, label)
    )
    names = network.features[level].names
    n_wires, width, n_lat = len(names), int(network.features[level].readout.shape[1]), sae.latents
    rows = max(1, min(4096, BLOCK // max(n_lat, 1)))

    # pass 1: latent statistics, the truth, and (when not stored) the write directions
    say("pass 1: encoding")
    lat_sum = np.zeros(n_lat)
    lat_sq = np.zeros(n_lat)
    fires = np.zeros(n_lat, dtype=np.int64)
    truth: list[sp.csr_matrix] = []
    stats = DirectionStats(n_wires, width) if source.write is None else None
    # the activations of samples with some wire on, kept (sparse) for pass 2 when they fit
    cache: list[sp.csr_matrix] | None = []
    cached_rows: list[np.ndarray] = []
    cached_bytes = 0
    base = 0
    for h, wires in source.chunks(rows):
        if cache is not None:
            on = np.flatnonzero(np.diff(wires.indptr) > 0)
            part = sp.csr_matrix(h[on])
            cached_bytes += part.data.nbytes + part.indices.nbytes + part.indptr.nbytes
            if cached_bytes > CACHE_BYTES:
                cache = None
                cached_rows = []
            else:
                cache.append(part)
                cached_rows.append(on + base)
        base += h.shape[0]
        a = sae.encode(h)
        lat_sum += a.sum(axis=0, dtype=np.float64)
        lat_sq += np.square(a, dtype=np.float64).sum(axis=0)
        fires += np.count_nonzero(a > 0, axis=0)
        truth.append(wires)
        if stats is not None:
            stats.add(h, wires)
    n = source.n
    truth_all = sp.vstack(truth).tocsc() if truth else sp.csc_matrix((0, n_wires), dtype=bool)
    count = np.diff(truth_all.indptr).astype(np.int64)
    write = source.write if stats is None else stats.directions()
    mu = lat_sum / n
    sd = np.sqrt(np.maximum(lat_sq / n - mu * mu, 0))
    p = count / n
    sd_w = np.sqrt(p * (1 - p))
    dense = fires > dense_threshold * n
    seen = count > 0

    fetch = source.rows
    if cache is not None:
        kept = sp.vstack(cache).tocsr() if cache else sp.csr_matrix((0, width), dtype=np.float32)
        where = np.full(n, -1, dtype=np.int64)
        where[np.concatenate(cached_rows) if cached_rows else []] = np.arange(kept.shape[0])

        def fetch(index: np.ndarray) -> np.ndarray:
            return kept[where[index]].toarray()

    # pass 2: per block of wires, the rows where they are on, re-encoded; and the cosines of
    # the block's write directions with every decoder row
    say("pass 2: matching")
    wn = _unit_rows(np.asarray(write, dtype=np.float32))
    dn = _unit_rows(sae.W_dec)
    has_dir = seen & (np.linalg.norm(wn, axis=1) > 0)
    # a latent that never fires recovers nothing: only live latents' directions are compared
    alive_idx = np.flatnonzero(fires > 0)
    dn_alive = dn[alive_idx]
    best_corr = np.zeros(n_wires)  # firing (Matthews) correlation
    best_act = np.zeros(n_wires)  # activation (Pearson) correlation
    lat_best_corr = np.zeros(n_lat)
    wire_cos = np.zeros(n_wires)
    lat_cos = np.zeros(n_lat)
    recovered = np.zeros(n_wires, dtype=bool)
    # each latent's own wire: the best firing correlation, ties broken by direction
    lat_key = np.full(n_lat, -np.inf)
    lat_wire = np.full(n_lat, -1, dtype=np.int64)
    lat_tp = np.zeros(n_lat)
    cover: list[tuple[np.ndarray, np.ndarray]] = []
    per_block = max(1, BLOCK // max(n_lat, 1))
    fires_f = fires.astype(np.float64)[None, :]
    keep_cos = n_wires * n_lat <= HUNGARIAN_LIMIT
    all_cos = np.zeros((n_wires, n_lat), dtype=np.float32) if keep_cos else None
    for start in range(0, n_wires, per_block):
        block = np.arange(start, min(n_wires, start + per_block))
        cos = np.zeros((len(block), n_lat))
        if has_dir[block].any() and alive_idx.size:
            rows_dir = np.flatnonzero(has_dir[block])
            cos[np.ix_(rows_dir, alive_idx)] = wn[block[rows_dir]] @ dn_alive.T
            wire_cos[block] = np.where(has_dir[block], cos.max(axis=1), 0)
            np.maximum(lat_cos, cos[has_dir[block]].max(axis=0), out=lat_cos)
            if all_cos is not None:
                all_cos[block] = cos
        sub = truth_all[:, block]
        hit = np.unique(sub.indices)
        if hit.size == 0:
            continue
        s_sum = np.zeros((len(block), n_lat))
        tp = np.zeros((len(block), n_lat))
        sub_rows = sub.tocsr()
        for piece in range(0, hit.size, rows):
            idx = hit[piece : piece + rows]
            a = sae.encode(fetch(idx))
            v = sub_rows[idx].T.astype(np.float64)  # (F_b, rows)
            s_sum += v @ a
            tp += v @ (a > 0).astype(np.float64)
        denom = np.outer(sd_w[block], sd)
        corr = np.divide(
            s_sum / n - np.outer(p[block], mu), denom, out=np.zeros_like(s_sum), where=denom > 0
        )
        best_act[block] = np.maximum(corr.max(axis=1), 0)
        c = count[block][:, None].astype(np.float64)
        denom = np.sqrt(c * (n - c) * fires_f * (n - fires_f))
        phi = np.divide(n * tp - c * fires_f, denom, out=np.zeros_like(tp), where=denom > 0)
        best_corr[block] = np.maximum(phi.max(axis=1), 0)
        np.maximum(lat_best_corr, phi.max(axis=0), out=lat_best_corr)
        key = np.where(seen[block][:, None], phi + 1e-7 * cos, -np.inf)
        top = np.argmax(key, axis=0)
        top_key = key[top, np.arange(n_lat)]
        better = top_key > lat_key
        lat_key[better] = top_key[better]
        lat_wire[better] = block[top[better]]
        lat_tp[better] = tp[top[better], np.flatnonzero(better)]
        f1 = 2 * tp / np.maximum(c + fires_f, 1)
        recovered[block] |= ((f1 >= RECOVER_F1) & (cos >= RECOVER_COS)).any(axis=1)
        cw, cl = np.nonzero((tp / np.maximum(c, 1) >= COVER_RECALL) & ~dense[None, :])
        cover.append((block[cw], cl))

    # split: a wire that is the own wire of two or more latents that fire mostly with it;
    # absorbed: a wire covered by a latent that covers others and is not mostly its own wire's
    own = (lat_wire >= 0) & ~dense
    precision = lat_tp / np.maximum(fires, 1)
    recall = lat_tp / np.maximum(count[np.maximum(lat_wire, 0)], 1)
    splitting = own & (precision >= SPLIT_PRECISION) & (recall >= SPLIT_RECALL)
    split = np.bincount(lat_wire[splitting], minlength=n_wires) >= 2
    cw = np.concatenate([w for w, _ in cover]) if cover else np.zeros(0, np.int64)
    cl = np.concatenate([x for _, x in cover]) if cover else np.zeros(0, np.int64)
    covers = np.bincount(cl, minlength=n_lat)
    absorbing = (covers >= 2) & (precision < ABSORB_PRECISION)
    absorbed = np.zeros(n_wires, dtype=bool)
    absorbed[cw[absorbing[cl]]] = True

    mcc_decoder = None
    if all_cos is not None and has_dir.any():
        from scipy.optimize import linear_sum_assignment

        matched = np.abs(all_cos[has_dir])
        r, c = linear_sum_assignment(1 - matched)
        mcc_decoder = float(matched[r, c].mean())
    n_seen = int(seen.sum())
    alive = fires > 0

    def mean(values: np.ndarray, mask: np.ndarray) -> float:
        return float(values[mask].mean()) if mask.any() else 0.0

    return {
        "level": level,
        "samples": int(n),
        "source": str(folder) if folder is not None else "sampled",
        "latents": int(n_lat),
        "encoder": sae.encoder,
        "architecture": sae.architecture,
        "wires": int(n_wires),
        "wires_seen": n_seen,
        "mcc": mean(best_corr, seen),
        "mcc_activation": mean(best_act, seen),
        "mcc_decoder": mcc_decoder,
        "mean_max_cos": mean(wire_cos, seen),
        "mean_max_cos_latents": mean(lat_cos, alive),
        "mean_max_corr_latents": mean(np.maximum(lat_best_corr, 0), alive),
        "recovered": int((recovered & seen).sum()),
        "recovered_fraction": float((recovered & seen).sum() / max(n_seen, 1)),
        "dead_latents": int((~alive).sum()),
        "dead_fraction": float((~alive).mean()) if n_lat else 0.0,
        # a latent per wire cannot fire for a wire that is never on in the samples
        "dead_latents_excess": max(int((~alive).sum()) - (n_wires - n_seen), 0),
        "dense_latents": int(dense.sum()),
        "dense_threshold": dense_threshold,
        "split_wires": int((split & seen).sum()),
        "absorbed_wires": int((absorbed & seen).sum()),
        "l0": float(fires.sum() / max(n, 1)),
        "true_l0": float(count.sum() / max(n, 1)),
        "thresholds": {
            "recover_cos": RECOVER_COS,
            "recover_f1": RECOVER_F1,
            "split_precision": SPLIT_PRECISION,
            "split_recall": SPLIT_RECALL,
            "cover_recall": COVER_RECALL,
            "absorb_precision": ABSORB_PRECISION,
        },
    }


def render_scores(scores: dict[str, Any]) -> None:
    """The scores as a rich table on stdout."""
    from rich.console import Console
    from rich.table import Table

    console = Console(highlight=False)
    table = Table(
        title=f"level {scores['level']}: {scores['latents']:,} latents ({scores['encoder']}, "
        f"{scores['architecture']}) vs {scores['wires_seen']:,} of {scores['wires']:,} wires "
        f"seen in {scores['samples']:,} samples ({scores['source']})",
        title_justify="left",
    )
    table.add_column("metric")
    table.add_column("value", justify="right")
    rows = [
        ("MCC (mean best firing correlation per wire)", f"{scores['mcc']:.4f}"),
        ("MCC of activations (Pearson)", f"{scores['mcc_activation']:.4f}"),
        (
            "MCC of decoder directions (one-to-one)",
            "-" if scores["mcc_decoder"] is None else f"{scores['mcc_decoder']:.4f}",
        ),
        ("mean max cos, wires → latents", f"{scores['mean_max_cos']:.4f}"),
        ("mean max cos, latents → wires", f"{scores['mean_max_cos_latents']:.4f}"),
        (
            "wires recovered (cos ≥ 0.9, F1 ≥ 0.9)",
            f"{scores['recovered']:,} ({scores['recovered_fraction']:.2%})",
        ),
        ("dead latents", f"{scores['dead_latents']:,} ({scores['dead_fraction']:.2%})"),
        ("dead latents beyond wires never on", f"{scores['dead_latents_excess']:,}"),
        (
            f"dense latents (> {scores['dense_threshold']:.0%} of samples)",
            f"{scores['dense_latents']:,}",
        ),
        ("split wires", f"{scores['split_wires']:,}"),
        ("absorbed wires", f"{scores['absorbed_wires']:,}"),
        ("L0 (latents on per sample)", f"{scores['l0']:.3f}"),
        ("true L0 (wires on per sample)", f"{scores['true_l0']:.3f}"),
    ]
    for name, value in rows:
        table.add_row(name, value)
    console.print(table)


def save_dictionary(
    path: str | os.PathLike, tensors: dict[str, np.ndarray], metadata: dict[str, str] | None = None
) -> None:
    """Write a dictionary in the layout :func:`load_dictionary` reads, atomically."""
    from circuit2mlp.fileio import atomic_write
    from circuit2mlp.optional import require

    save = require("safetensors.numpy", "saving a dictionary").save

    data = save(
        {k: np.ascontiguousarray(v, dtype=np.float32) for k, v in tensors.items()},
        metadata=metadata,
    )
    atomic_write(path, lambda handle: handle.write(data))
