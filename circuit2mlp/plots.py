"""Figures: error against width from a sweep table, the margin picture of a network's outputs,
and a heat map of one level's feature interference.

matplotlib is an optional extra (``circuit2mlp[plot]``), always driven through the Agg backend
so plotting works on machines without a display (CI). The output format follows the file
extension (.png, .svg or .pdf); files are written atomically.

Sweep table schema (what ``circuit2mlp sweep`` writes, as JSON or CSV): a list of row objects,
or an object whose ``rows`` key holds that list. A row needs ``bit_error_rate`` and ``width``
(neurons per layer; when it is null or absent, ``neurons``, the total, is the x value instead).
Optional: ``sample_error_rate`` (drawn dashed), ``circuit``, ``method`` and ``sparsity`` (one
curve per distinct combination), ``seed`` (rows differing only in seed are averaged, the bar
spanning their min..max), and ``error`` (a non-empty message marks a failed job: skipped).
See docs/interpretability.md.
"""

from __future__ import annotations

import csv
import io
import json
import os
from collections import defaultdict
from pathlib import Path
from typing import Any

import numpy as np

from circuit2mlp.errors import UserError
from circuit2mlp.fileio import atomic_write
from circuit2mlp.network import Network
from circuit2mlp.optional import require

IMAGE_FORMATS = (".png", ".svg", ".pdf")


def _pyplot():
    matplotlib = require("matplotlib", "plot")
    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    return plt


def _image_format(path: str | os.PathLike) -> str:
    suffix = Path(path).suffix.lower()
    if suffix not in IMAGE_FORMATS:
        raise UserError(
            f"{os.fspath(path)}: the image must end in {', '.join(IMAGE_FORMATS)} "
            "(the format follows the extension)"
        )
    return suffix[1:]


def _save(fig, path: str | os.PathLike) -> None:
    fmt = _image_format(path)
    buffer = io.BytesIO()
    fig.savefig(buffer, format=fmt, dpi=120, bbox_inches="tight", metadata=_no_dates(fmt))
    import matplotlib.pyplot as plt

    plt.close(fig)
    atomic_write(path, lambda handle: handle.write(buffer.getvalue()))


def _no_dates(fmt: str) -> dict[str, Any]:
    """Metadata that keeps the same figure byte-identical from run to run."""
    if fmt == "svg":
        return {"Date": None}
    if fmt == "pdf":
        return {"CreationDate": None, "ModDate": None}
    return {}


# --------------------------------------------------------------------------- sweep


def read_sweep_table(path: str | os.PathLike) -> list[dict[str, Any]]:
    """Rows of a sweep table (.json or .csv; schema in the module docstring), checked."""
    shown = os.fspath(path)
    try:
        text = Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise UserError(f"{shown}: no such file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise UserError(f"{shown}: cannot read ({exc})") from None
    if Path(path).suffix.lower() == ".csv":
        rows: Any = list(csv.DictReader(io.StringIO(text)))
    else:
        try:
            rows = json.loads(text)
        except json.JSONDecodeError as exc:
            raise UserError(f"{shown}: not valid JSON ({exc})") from None
        if isinstance(rows, dict):
            rows = rows.get("rows")
    if not isinstance(rows, list) or not all(isinstance(r, dict) for r in rows):
        raise UserError(f"{shown}: a sweep table is a list of row objects (or {{'rows': [...]}})")
    out = []
    for n, row in enumerate(rows, start=1):
        if row.get("error"):
            continue
        x = _number(row.get("width")) if row.get("width") not in (None, "") else None
        if x is None:
            x = _number(row.get("neurons"))
        rate = _number(row.get("bit_error_rate"))
        if x is None or rate is None:
            raise UserError(
                f"{shown}: row {n} needs a numeric width (or neurons) and bit_error_rate"
            )
        out.append(
            {
                "x": x,
                "bit_error_rate": rate,
                "sample_error_rate": _number(row.get("sample_error_rate")),
                "series": " ".join(
                    f"{key}={row[key]}"
                    for key in ("circuit", "method", "sparsity")
                    if row.get(key) not in (None, "")
                ),
            }
        )
    if not out:
        raise UserError(f"{shown}: no successful rows to plot")
    return out


def _number(value: Any) -> float | None:
    if value is None or value == "" or isinstance(value, bool):
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if np.isfinite(number) else None


def plot_sweep(table: str | os.PathLike, output: str | os.PathLike, title: str | None = None):
    """Error rates against width, one curve per (circuit, method, sparsity), seeds averaged."""
    rows = read_sweep_table(table)
    _image_format(output)
    plt = _pyplot()
    groups: dict[str, dict[float, list[dict[str, Any]]]] = defaultdict(lambda: defaultdict(list))
    for row in rows:
        groups[row["series"]][row["x"]].append(row)
    fig, ax = plt.subplots(figsize=(7, 4.5))
    for k, (series, by_x) in enumerate(sorted(groups.items())):
        color = f"C{k % 10}"
        xs = sorted(by_x)
        for key, style in (("bit_error_rate", "-o"), ("sample_error_rate", "--s")):
            values = [[r[key] for r in by_x[x] if r[key] is not None] for x in xs]
            points = [(x, v) for x, v in zip(xs, values, strict=True) if v]
            if not points:
                continue
            px = np.array([p[0] for p in points])
            mean = np.array([np.mean(p[1]) for p in points])
            low = mean - np.array([np.min(p[1]) for p in points])
            high = np.array([np.max(p[1]) for p in points]) - mean
            label = f"{series or 'sweep'}: {key.replace('_', ' ')}"
            ax.errorbar(px, mean, yerr=[low, high], fmt=style, color=color, label=label, ms=4)
    ax.set_xlabel("width (neurons per layer)")
    ax.set_ylabel("error rate")
    ax.set_yscale("symlog", linthresh=1e-4)
    ax.set_ylim(bottom=0)
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=7)
    ax.set_title(title or f"error rate vs width ({Path(table).name})")
    _save(fig, output)


# --------------------------------------------------------------------------- margins


def margin_samples(
    network: Network, samples: int = 2000, sparsity: int | None = None, seed: int = 0
) -> tuple[np.ndarray, np.ndarray]:
    """Output read-offs on random k-hot inputs (k = 0..s, ``samples`` of each): the values
    where the circuit says 0 and where it says 1."""
    from circuit2mlp.interp import embedded_circuit
    from circuit2mlp.simulate import simulate, sparse_inputs

    circuit = embedded_circuit(network)
    s = int(network.meta.get("sparsity", 3)) if sparsity is None else sparsity
    rng = np.random.default_rng(seed)
    m = len(network.input_names)
    zeros, ones = [], []
    for k in range(min(s, m) + 1):
        x = sparse_inputs(m, k, samples, rng)
        if not len(x):
            continue
        target = simulate(circuit, x)
        y = network.forward(x)
        zeros.append(y[~target])
        ones.append(y[target])
    return np.concatenate(zeros or [np.zeros(0)]), np.concatenate(ones or [np.zeros(0)])


def plot_margins(
    network: Network,
    output: str | os.PathLike,
    samples: int = 2000,
    sparsity: int | None = None,
    seed: int = 0,
    title: str | None = None,
) -> dict[str, Any]:
    """Histogram of output read-offs for 0- and 1-targets with the 0.5 threshold: the gap
    between the two clusters is the margin the network keeps. Returns the figures drawn."""
    _image_format(output)
    zeros, ones = margin_samples(network, samples, sparsity, seed)
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(7, 4.5))
    values = np.concatenate([zeros, ones])
    lo, hi = (float(values.min()), float(values.max())) if values.size else (0.0, 1.0)
    lo, hi = min(lo, -0.1), max(hi, 1.1)
    bins = np.linspace(lo, hi, 81)
    ax.hist(zeros, bins=bins, color="C0", alpha=0.7, label=f"target 0 ({zeros.size} bits)")
    ax.hist(ones, bins=bins, color="C3", alpha=0.7, label=f"target 1 ({ones.size} bits)")
    ax.axvline(0.5, color="k", ls="--", lw=1, label="threshold 0.5")
    ax.set_yscale("log")
    ax.set_xlabel("output read-off y")
    ax.set_ylabel("output bits")
    worst0 = float(zeros.max()) if zeros.size else None
    worst1 = float(ones.min()) if ones.size else None
    gaps = [0.5 - worst0] if worst0 is not None else []
    gaps += [worst1 - 0.5] if worst1 is not None else []
    margin = min(gaps, default=0.5)
    ax.legend(fontsize=8)
    name = network.meta.get("circuit", "network")
    ax.set_title(title or f"{name}: output margins (worst margin {margin:+.3f})")
    _save(fig, output)
    return {
        "zeros": int(zeros.size),
        "ones": int(ones.size),
        "max_on_0": worst0,
        "min_on_1": worst1,
        "worst_margin": margin,
    }


# --------------------------------------------------------------------------- interference


def interference_matrix(
    network: Network, level: int, max_features: int = 64
) -> tuple[list[str], np.ndarray]:
    """Names and |cosine| matrix of at most ``max_features`` features of one level: all of
    them when few enough, else the features of the most interfering pairs first (then the
    rest in order), so the picture shows where interference is."""
    import scipy.sparse as sp

    from circuit2mlp.interp import interference, normalized_rows

    if not 0 <= level < len(network.features):
        raise UserError(f"no level {level} (levels 0..{len(network.features) - 1})")
    fmap = network.features[level]
    count = len(fmap.names)
    if count <= max_features:
        chosen = list(range(count))
    else:
        inter = interference(fmap.readout, top=max_features)
        chosen, seen = [], set()
        for i, j, _ in inter.top_pairs:
            for f in (i, j):
                if f not in seen and len(chosen) < max_features:
                    seen.add(f)
                    chosen.append(f)
        for f in np.argsort(-inter.max_cos, kind="stable"):
            if len(chosen) >= max_features:
                break
            if int(f) not in seen:
                seen.add(int(f))
                chosen.append(int(f))
    rn, _ = normalized_rows(fmap.readout)
    sub = sp.csr_matrix(rn[chosen])
    cos = np.abs((sub @ sub.T).toarray())
    return [fmap.names[i] for i in chosen], cos


def plot_interference(
    network: Network,
    output: str | os.PathLike,
    level: int,
    max_features: int = 64,
    title: str | None = None,
) -> dict[str, Any]:
    """Heat map of |cos| between the read-off vectors of one level's features (the diagonal
    is 1; off-diagonal mass is interference)."""
    _image_format(output)
    names, cos = interference_matrix(network, level, max_features)
    plt = _pyplot()
    size = 4 + 0.08 * len(names)
    fig, ax = plt.subplots(figsize=(size + 1.2, size))
    image = ax.imshow(cos, vmin=0, vmax=1, cmap="magma", interpolation="nearest")
    fig.colorbar(image, ax=ax, label="|cos| of read-off vectors")
    if len(names) <= 40:
        ax.set_xticks(range(len(names)), names, rotation=90, fontsize=7)
        ax.set_yticks(range(len(names)), names, fontsize=7)
    else:
        ax.set_xlabel("feature")
        ax.set_ylabel("feature")
    total = len(network.features[level].names)
    shown = f"{len(names)} of {total}" if len(names) < total else f"{total}"
    ax.set_title(title or f"level {level}: feature interference ({shown} features)")
    _save(fig, output)
    off = cos - np.eye(len(names))
    return {"features": len(names), "max_off_diagonal": float(off.max()) if off.size else 0.0}
