"""Trained ReLU MLPs against compiled networks on U-AND, at equal neuron counts.

Not a test: run ``nice -n 5 python benchmarks/trained_baseline.py`` (needs PyTorch, CPU is
enough; one thread, about an hour of it with the default budget; ``--quick`` runs m = 32
alone). It writes
``docs/results/trained_baseline.json`` (after every point, ``complete`` false until the end)
and one plot per sparsity, ``docs/results/trained_baseline_s{s}.png``, and prints the tables of
docs/performance.md; ``--plot-only`` redraws both from the JSON.

The question: at the same number of ReLU neurons, does a network *trained* on the task reach a
lower error than the compiled one? For every m in ``--inputs`` and s in ``--sparsity``:

1. compile U-AND(m) (all m(m-1)/2 pairwise ANDs) with the superposed construction at its
   automatic width (its neuron count N is the reference) and with the default method (which
   builds it the dense way where ``codegen.dense.dense_is_better`` says so);
2. for every factor f in ``--factors`` (N/4 .. 2N by default): compile at ``width = f N``
   with ``superposed``, ``paper`` and ``dense``, and train a network of the same
   architecture, m -> f N (ReLU) -> m(m-1)/2 (linear), until its validation loss plateaus
   or its CPU budget runs out (the JSON says which, per point);
3. score every network with ``circuit2mlp.verify.verify`` on the same inputs (same seed): the
   trained weights are wrapped into a :class:`~circuit2mlp.network.Network`, so the figures
   (sample error per k, bit error, worst margin) come from the same code for both sides;
4. describe what each trained network computes: its neurons grouped by their input weights.

Training (``_uand_training.py``): Adam, float32, one thread; inputs k-hot with k = s with
probability 3/4, otherwise uniform below; squared error against the 0/1 targets with the
positives weighted ``--pos-weight``, estimated without bias per sample from its positives,
``--touched`` outputs sharing an active input and ``--far`` others, so a step costs the same
at every m; plateau = the best validation loss has not improved by more than ``--tolerance``
over ``--patience`` evaluations (every ``--eval-every`` steps, more where an output is 1 less
often) after ``--drops`` learning-rate drops. Each point trains for at most ``--budget`` CPU
seconds times the ``--scale`` of its m; the JSON says per point whether it plateaued first.
Points whose output layer would not fit the memory cap are not trained (the JSON and the
tables say so).
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")  # one core: the machine is shared

import argparse  # noqa: E402
import json  # noqa: E402
import time  # noqa: E402
from math import comb  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402
from _report import machine, settings, write_report  # noqa: E402
from _uand_training import TrainSettings, draw_actives, train  # noqa: E402

from circuit2mlp.generate import uand_circuit  # noqa: E402
from circuit2mlp.network import Network  # noqa: E402
from circuit2mlp.verify import verify  # noqa: E402

#: The dense method's readout stores every (output, neuron) weight: points beyond this many
#: are not compiled with it (memory on a shared machine).
DENSE_LIMIT = 5 * 10**7
#: Trained points whose output layer has more weights than this are not trained: its weights
#: and Adam's two moments take 12 bytes per weight (2.4 GiB at m = 256, s = 3, 2N, the
#: largest point of the default grid; the study runs under a 12 GB address-space cap).
TRAIN_LIMIT = 3 * 10**8
RESULTS = Path(__file__).resolve().parent.parent / "docs" / "results"


# --------------------------------------------------------------------------- compiled side


def compile_point(m: int, s: int, method: str, width: int | None, args) -> tuple[dict, object]:
    """Compile U-AND(m) and verify it; the figures and the network. ``default`` is what
    ``circuit2mlp compile`` does without ``--method`` (superposed, or dense where
    ``codegen.dense.dense_is_better`` says so); ``superposed`` is that construction alone."""
    from circuit2mlp.codegen import dense
    from circuit2mlp.compiler import CompileConfig, compile_circuit

    circuit = uand_circuit(m)
    real = "superposed" if method == "default" else method
    config = CompileConfig(method=real, sparsity=s, seed=args.seed, width=width)
    start = time.process_time()
    dense.DEFAULT_MAY_PICK = method == "default"
    try:
        network, report = compile_circuit(circuit, config)
    finally:
        dense.DEFAULT_MAY_PICK = True
    cpu = time.process_time() - start
    result = verify(circuit, network, samples=args.samples, sparsity=s, seed=args.seed)
    return {
        "method": method,
        "built_as": network.meta.get("method"),
        "kinds": sorted({str(layer.get("kind")) for layer in report.layers}),
        "width_requested": width,
        "neurons": network.neurons,
        "exact_neurons": report.exact_neurons,
        "compile_cpu_seconds": round(cpu, 2),
        **figures(result),
    }, network


def figures(result) -> dict:
    """verify's figures: per k, overall, and the hardest k's sample error rate."""
    hardest = result.per_k[-1]
    return {
        "hardest_k": hardest.k,
        "hardest_k_sample_error_rate": hardest.sample_error_rate,
        "hardest_k_samples": hardest.samples,
        "bit_error_rate": result.overall.bit_error_rate,
        "sample_error_rate": result.overall.sample_error_rate,
        "worst_margin": result.overall.worst_margin,
        "per_k": [
            {
                "k": st.k,
                "samples": st.samples,
                "bit_error_rate": st.bit_error_rate,
                "sample_error_rate": st.sample_error_rate,
                "worst_margin": st.worst_margin,
            }
            for st in result.per_k
        ],
    }


# --------------------------------------------------------------------------- trained side


def as_network(m: int, s: int, weights: tuple) -> Network:
    """The trained weights as a circuit2mlp Network (identity embedding), for ``verify``."""
    w1, b1, w2, b2 = weights
    circuit = uand_circuit(m)
    return Network(
        input_names=circuit.inputs,
        output_names=circuit.outputs,
        embed=np.eye(m, dtype=np.float32),
        layers=[(w1.astype(np.float32), b1.astype(np.float32))],
        readout=(w2.astype(np.float32), b2.astype(np.float32)),
        meta={"method": "trained", "sparsity": s, "gates": len(circuit.gates)},
    )


# --------------------------------------------------------------------------- what it learned


def two_level_fit(w: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Per row of w (n, m): the best split of its sorted values into a low and a high group
    (1-D 2-means, exact): share of variance the two levels explain, the two levels and the
    size of the high group."""
    v = np.sort(w, axis=1)
    n, m = v.shape
    c1 = np.cumsum(v, axis=1)
    c2 = np.cumsum(v**2, axis=1)
    total1, total2 = c1[:, -1:], c2[:, -1:]
    sizes = np.arange(1, m)  # low group = first `sizes` values
    lo_sum, lo_sq = c1[:, :-1], c2[:, :-1]
    hi_sum, hi_sq = total1 - lo_sum, total2 - lo_sq
    within = lo_sq - lo_sum**2 / sizes + hi_sq - hi_sum**2 / (m - sizes)
    best = np.argmin(within, axis=1)
    ss_total = total2[:, 0] - total1[:, 0] ** 2 / m
    explained = 1 - within[np.arange(n), best] / np.maximum(ss_total, 1e-30)
    cut = best + 1
    low = lo_sum[np.arange(n), best] / cut
    high = hi_sum[np.arange(n), best] / (m - cut)
    return explained, low, high, m - cut


def initial_layer(m: int, width: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """The hidden layer's weights and bias before training (as :func:`train` draws them)."""
    from _uand_training import initial_hidden

    w1, b1 = initial_hidden(m, width, seed)
    return w1[:m].T.numpy().copy(), b1.numpy().copy()


def neuron_classes(m: int, s: int, weights: tuple, seed: int) -> dict:
    """The hidden neurons grouped by their input weights. ``weights`` = (w1, b1, w2, b2); w2
    None (the initial network) counts every neuron that fires as used."""
    w1, b1, w2, _ = weights
    rng = np.random.default_rng(seed)
    act = draw_actives(m, s, 2000, rng)
    x = np.zeros((act.shape[0], m), dtype=np.float32)
    r, c = np.nonzero(act < m)
    x[r, act[r, c]] = 1
    h = np.maximum(x @ w1.T + b1, 0)
    alive = (h > 1e-6).any(axis=0)
    firing = (h > 1e-6).mean(axis=0)
    # the readout's weight on a neuron is what matters, not its input scale: a neuron is used
    # when its readout column is not negligible
    if w2 is None:
        used = alive
    else:
        out_norm = np.linalg.norm(w2, axis=0) * np.abs(w1).max(axis=1)
        used = alive & (out_norm > 0.05 * out_norm.max())
    scale = np.abs(w1).max(axis=1, keepdims=True)
    rel = w1 / np.maximum(scale, 1e-30)
    reads = (np.abs(rel) >= 0.5).sum(axis=1)  # inputs read with at least half the max weight
    explained, low, high, n_high = two_level_fit(w1)
    sl = np.sign(np.round(low / scale[:, 0], 1))
    sh = np.sign(np.round(high / scale[:, 0], 1))
    bias = b1 / scale[:, 0]
    # class: (inputs at the high level, in eighths of m), sign of the two levels, sign of bias
    bucket = np.minimum(np.round(8 * n_high / m).astype(int), 8)
    keys = list(zip(bucket.tolist(), sl.tolist(), sh.tolist(), np.sign(bias).tolist(), strict=True))
    groups: dict = {}
    for idx in np.flatnonzero(used):
        groups.setdefault(keys[idx], []).append(idx)
    classes = []
    for key, members in sorted(groups.items(), key=lambda kv: -len(kv[1])):
        ids = np.array(members)
        classes.append(
            {
                "neurons": int(ids.size),
                "high_inputs_eighths_of_m": key[0],
                "high_inputs_mean": round(float(n_high[ids].mean()), 1),
                "low_level": round(float(np.median(low[ids] / scale[ids, 0])), 3),
                "high_level": round(float(np.median(high[ids] / scale[ids, 0])), 3),
                "bias": round(float(np.median(bias[ids])), 3),
                "firing_rate": round(float(firing[ids].mean()), 3),
            }
        )
    # readout density: per output, share of used neurons with at least 10 % of the largest
    # |weight x input scale| on that output
    density = [float("nan")]
    if w2 is not None and used.any():
        eff = np.abs(w2[:, used]) * scale[used, 0][None, :]
        density = (eff >= 0.1 * eff.max(axis=1, keepdims=True)).mean(axis=1)
    return {
        "neurons": int(w1.shape[0]),
        "dead": int((~alive).sum()),
        "used": int(used.sum()),
        "inputs_read_median": float(np.median(reads[used])) if used.any() else 0.0,
        "two_level_variance_explained_median": (
            round(float(np.median(explained[used])), 3) if used.any() else None
        ),
        "readout_density_mean": round(float(np.mean(density)), 3),
        "levels_median": [
            round(float(np.median(v[used])), 3) if used.any() else None
            for v in (low / scale[:, 0], high / scale[:, 0], bias)
        ],
        "firing_rate_median": round(float(np.median(firing[used])), 3) if used.any() else 0.0,
        "classes": classes[:8],
        "classes_total": len(classes),
    }


def init_classes(m: int, s: int, width: int, args) -> dict:
    """:func:`neuron_classes` of the hidden layer as training started: the baseline that
    the trained figures are to be read against (a uniform random vector already splits into
    two levels explaining 3/4 of its variance)."""
    w1, b1 = initial_layer(m, width, args.seed)
    return neuron_classes(m, s, (w1, b1, None, None), args.seed + 1)


# --------------------------------------------------------------------------- driver


def train_settings(args) -> TrainSettings:
    """The training options of the command line."""
    return TrainSettings(
        batch=args.batch,
        touched=args.touched,
        far=args.far,
        pos_weight=args.pos_weight,
        lr=args.lr,
        lr_drop=args.lr_drop,
        drops=args.drops,
        eval_every=args.eval_every,
        patience=args.patience,
        tolerance=args.tolerance,
        seed=args.seed,
    )


def budget_for(m: int, args) -> float:
    """CPU seconds a training point may take: ``--budget`` times the factor of ``--scale``
    for its m (by default 45 s at m = 32 up to 110 s at m = 256: wider grids read more
    distinct output rows per step, and each output is 1 in fewer of the samples)."""
    scale = dict(zip(args.inputs, args.scale, strict=False))
    return args.budget * scale.get(m, 1.0)


def study(args, partial) -> dict:
    """Every point of the grid; ``partial(points, references)`` after each one (the JSON so
    far)."""
    points: list[dict] = []
    references: list[dict] = []
    import torch

    torch.set_num_threads(1)
    done: dict = {}
    done_refs: dict = {}
    if args.resume and args.out.exists():  # points of an interrupted run with these settings
        before = json.loads(args.out.read_text())
        done = {(p["inputs"], p["sparsity"], p["factor"]): p for p in before["points"]}
        done_refs = {(r["inputs"], r["sparsity"]): r for r in before.get("references", [])}
    for m in args.inputs:  # both sparsities of an m before the next, larger one
        for s in args.sparsity:
            if all((m, s, f) in done for f in args.factors) and (m, s) in done_refs:
                references.append(done_refs[(m, s)])
                points += [done[(m, s, f)] for f in args.factors]
                print(f"m={m} s={s}: kept from {args.out}", flush=True)
                continue
            base, _ = compile_point(m, s, "superposed", None, args)
            n_ref = base["neurons"]
            print(f"m={m} s={s}: superposed compile {n_ref} neurons", flush=True)
            ref = {"inputs": m, "sparsity": s, "superposed": base}
            ref["default"], _ = compile_point(m, s, "default", None, args)
            print(f"  default compile {ref['default']['neurons']} neurons", flush=True)
            references.append(ref)
            for f in args.factors:
                if (m, s, f) in done:
                    points.append(done[(m, s, f)])
                    continue
                width = max(2, round(f * n_ref))
                row = {"inputs": m, "outputs": comb(m, 2), "sparsity": s, "factor": f}
                row["width"] = width
                for method in args.methods:
                    if method == "dense" and comb(m, 2) * width > DENSE_LIMIT:
                        row[method] = {"skipped": f"a dense readout of {comb(m, 2) * width:,}"}
                        continue
                    try:
                        row[method], _ = compile_point(m, s, method, width, args)
                    except Exception as exc:  # a method that cannot build this point
                        row[method] = {"error": f"{type(exc).__name__}: {exc}"}
                if comb(m, 2) * width > TRAIN_LIMIT:
                    row["trained"] = {
                        "skipped": f"an output layer of {comb(m, 2) * width:,} weights (Adam "
                        "keeps three copies) does not fit the memory cap"
                    }
                    points.append({**row, "default_neurons": n_ref})
                    partial(points, references)
                    continue
                run = train(m, s, width, budget_for(m, args), train_settings(args))
                weights = run.pop("weights")
                net = as_network(m, s, weights)
                result = verify(
                    uand_circuit(m), net, samples=args.samples, sparsity=s, seed=args.seed
                )
                row["trained"] = {**run, "neurons": width, **figures(result)}
                row["trained"]["classes"] = neuron_classes(m, s, weights, args.seed + 1)
                row["trained"]["classes_at_init"] = init_classes(m, s, width, args)
                del net, weights
                t = row["trained"]
                compiled = "; ".join(
                    f"{k} {row[k].get('neurons')} n {row[k].get('hardest_k_sample_error_rate')}"
                    for k in args.methods
                )
                print(
                    f"  width {width}: trained {t['hardest_k_sample_error_rate']:.4f} "
                    f"({t['steps']} steps, {t['cpu_seconds']} s, plateau {t['plateaued']}); "
                    + compiled,
                    flush=True,
                )
                points.append({**row, "default_neurons": n_ref})
                partial(points, references)
    return {"points": points, "references": references}


STYLES = {
    "superposed": ("o", "-"),
    "paper": ("s", "--"),
    "dense": ("D", "-."),
    "trained": ("^", ":"),
}


def plot(report: dict, out_dir: Path, sparsities: list[int]) -> list[str]:
    """One figure per s, one panel per m: hardest-k sample error against neurons, compiled
    (superposed, paper, dense, the default) and trained (hollow: not plateaued)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    written = []
    floor = 0.5 / report["settings"]["samples"]
    colors = dict(zip(STYLES, plt.rcParams["axes.prop_cycle"].by_key()["color"], strict=False))
    for s in sparsities:
        pts = [p for p in report["points"] if p["sparsity"] == s]
        ms = sorted({p["inputs"] for p in pts})
        if not ms:
            continue
        fig, axes = plt.subplots(1, len(ms), figsize=(3.6 * len(ms), 3.8), squeeze=False)
        for ax, m in zip(axes[0], ms, strict=True):
            rows = sorted((p for p in pts if p["inputs"] == m), key=lambda p: p["width"])
            for side, (marker, line) in STYLES.items():
                have = [p for p in rows if "neurons" in p.get(side, {})]
                if not have:
                    continue
                xs = [p[side]["neurons"] for p in have]
                ys = [max(p[side]["hardest_k_sample_error_rate"], floor) for p in have]
                ax.plot(xs, ys, line, color=colors[side], label=side, alpha=0.8)
                for p, x, y in zip(have, xs, ys, strict=True):
                    hollow = side == "trained" and not p[side]["plateaued"]
                    face = "none" if hollow else colors[side]
                    ax.plot([x], [y], marker, color=colors[side], markerfacecolor=face)
            for ref in report.get("references", []):
                if (ref["inputs"], ref["sparsity"]) != (m, s):
                    continue
                for side, marker in (("superposed", "o"), ("default", "*")):
                    r = ref[side]
                    kind = "dense" if "dense" in r.get("kinds", []) else "superposed"
                    ax.plot(
                        [r["neurons"]],
                        [max(r["hardest_k_sample_error_rate"], floor)],
                        marker,
                        color="black",
                        markerfacecolor="none" if side == "superposed" else "black",
                        markersize=11 if side == "default" else 9,
                        label=f"automatic width: {side} ({kind})" if side == "default" else
                        "automatic width: superposed",
                    )
            ax.set_xscale("log")
            ax.set_yscale("log")
            ax.set_ylim(floor / 1.5, 1.5)
            ax.set_title(f"m = {m}", fontsize=9)
            ax.set_xlabel("hidden neurons")
            ax.grid(True, which="both", alpha=0.3)
        axes[0][0].set_ylabel(f"sample error rate at k = {s} (floor: none wrong)")
        for ax in axes[0]:
            ax.legend(fontsize=6)
        fig.suptitle(
            f"U-AND, s = {s}: compiled and trained at equal neurons "
            "(hollow triangles: training not plateaued)",
            fontsize=9,
        )
        path = out_dir / f"trained_baseline_s{s}.png"
        fig.savefig(path, dpi=110, bbox_inches="tight")
        plt.close(fig)
        written.append(str(path))
    return written


def _rate(value: float | None) -> str:
    if value is None:
        return "-"
    if value == 0 or value >= 0.1:
        return f"{100 * value:.0f} %" if value else "0"
    return f"{100 * value:.2g} %" if value >= 1e-3 else f"{value:.1e}"


def _order(report: dict) -> list[dict]:
    return sorted(report["points"], key=lambda p: (p["sparsity"], p["inputs"], p["width"]))


def tables(report: dict) -> str:
    """The report as markdown: errors at equal neurons, then what the trained networks read."""
    methods = [m for m in ("superposed", "paper", "dense") if m in report["points"][0]]
    head = "| m | s | neurons | trained: k = s err | bit err | margin | plateau (steps, CPU s, "
    head += "1s/output) |" + "".join(f" {m} |" for m in methods)
    lines = [head, "|" + "---|" * (7 + len(methods))]
    for p in _order(report):
        t = p["trained"]
        cells = [str(p["inputs"]), str(p["sparsity"]), f"{p['width']:,}"]
        if "neurons" in t:
            cells += [
                _rate(t["hardest_k_sample_error_rate"]),
                _rate(t["bit_error_rate"]),
                f"{t['worst_margin']:+.2f}",
                f"{'yes' if t['plateaued'] else '**no**'} ({t['steps']:,}, "
                f"{t['cpu_seconds']:.0f}, {t['positives_per_output']:.0f})",
            ]
        else:
            cells += ["not trained", "-", "-", "-"]
        for name in methods:
            side = p.get(name, {})
            if "neurons" not in side:
                cells.append("not built" if "skipped" in side else "failed")
                continue
            cell = _rate(side["hardest_k_sample_error_rate"])
            if side["neurons"] != p["width"]:
                cell += f" ({side['neurons']:,} n)"
            cells.append(cell)
        lines.append("| " + " | ".join(cells) + " |")
    refs = sorted(report.get("references", []), key=lambda r: (r["sparsity"], r["inputs"]))
    if refs:
        lines += [
            "",
            "| m | s | superposed, automatic width: neurons | k = s err | default: built as "
            "| neurons | k = s err | compile CPU s |",
            "|---|---|---|---|---|---|---|---|",
        ]
    for r in refs:
        sup, default = r["superposed"], r["default"]
        kind = "dense" if "dense" in default.get("kinds", []) else "superposed"
        lines.append(
            f"| {r['inputs']} | {r['sparsity']} | {sup['neurons']:,} "
            f"| {_rate(sup['hardest_k_sample_error_rate'])} | {kind} | {default['neurons']:,} "
            f"| {_rate(default['hardest_k_sample_error_rate'])} "
            f"| {default['compile_cpu_seconds']:.1f} |"
        )
    lines += [
        "",
        "| m | s | neurons | used (dead) | inputs read ≥ ½ max | two-level fit (at init) | at "
        "init: low / high level, bias (median) | readout density | largest classes: neurons × "
        "(inputs at high level, low / high level, bias) |",
        "|" + "---|" * 9,
    ]
    for p in _order(report):
        if "classes" not in p["trained"]:
            continue
        k, k0 = p["trained"]["classes"], p["trained"].get("classes_at_init")
        top = "; ".join(
            f"{c['neurons']} × ({c['high_inputs_mean']:.0f}, {c['low_level']:+.2f} / "
            f"{c['high_level']:+.2f}, {c['bias']:+.2f})"
            for c in k["classes"][:3]
        )

        def levels(c: dict) -> str:
            if "levels_median" not in c:
                return "-"
            lo, hi, b = c["levels_median"]
            return f"{lo:+.2f} / {hi:+.2f}, {b:+.2f}"

        fit = f"{k['two_level_variance_explained_median']:.2f}"
        lv = levels(k0) if k0 else "-"
        if k0:
            fit += f" ({k0['two_level_variance_explained_median']:.2f})"
        lines.append(
            f"| {p['inputs']} | {p['sparsity']} | {p['width']:,} | {k['used']:,} ({k['dead']}) "
            f"| {k['inputs_read_median']:.0f} | {fit} | {lv} "
            f"| {k['readout_density_mean']:.2f} | {top} |"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--inputs", "-m", type=int, nargs="+", default=[32, 64, 128, 256])
    parser.add_argument("--sparsity", "-s", type=int, nargs="+", default=[2, 3])
    parser.add_argument(
        "--factors",
        type=float,
        nargs="+",
        default=[0.25, 0.5, 1.0, 2.0],
        help="hidden widths as multiples of the default compile's neurons",
    )
    parser.add_argument(
        "--budget",
        type=float,
        default=100.0,
        help="CPU seconds per training point, times --scale for its m",
    )
    parser.add_argument(
        "--scale",
        type=float,
        nargs="+",
        default=[0.45, 0.75, 1.0, 1.1],
        help="budget factor per entry of --inputs",
    )
    parser.add_argument(
        "--methods",
        nargs="+",
        default=["superposed", "paper", "dense"],
        help="compile methods compared at each width",
    )
    parser.add_argument(
        "--add-compiled",
        action="store_true",
        help="compile the --methods missing from the JSON's points of the --inputs and "
        "--sparsity (same widths, inputs and seed), without training again",
    )
    parser.add_argument(
        "--plot-only", action="store_true", help="redraw the plots from the JSON, print tables"
    )
    parser.add_argument(
        "--references",
        action="store_true",
        help="compile the automatic-width references (superposed, default) of the --inputs "
        "and --sparsity again into the JSON, without training",
    )
    d = TrainSettings()
    parser.add_argument("--batch", type=int, default=d.batch)
    parser.add_argument("--touched", type=int, default=d.touched, help="draws per sample")
    parser.add_argument("--far", type=int, default=d.far, help="draws per sample")
    parser.add_argument("--pos-weight", type=float, default=d.pos_weight)
    parser.add_argument("--lr", type=float, default=d.lr)
    parser.add_argument("--lr-drop", type=float, default=d.lr_drop)
    parser.add_argument("--drops", type=int, default=d.drops)
    parser.add_argument("--eval-every", type=int, default=d.eval_every, help="steps")
    parser.add_argument("--patience", type=int, default=d.patience, help="evaluations")
    parser.add_argument("--tolerance", type=float, default=d.tolerance)
    parser.add_argument("--samples", type=int, default=500, help="evaluation samples per k")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--quick", action="store_true", help="m = 32 only")
    parser.add_argument(
        "--resume",
        action="store_true",
        help="keep the points already in --out (a run interrupted with the same settings)",
    )
    parser.add_argument("--out", type=Path, default=RESULTS / "trained_baseline.json")
    args = parser.parse_args()
    if args.quick:
        args.inputs, args.scale = [32], [1.0]
    if args.add_compiled:
        report = json.loads(args.out.read_text())
        args.samples, args.seed = report["settings"]["samples"], report["settings"]["seed"]
        for p in report["points"]:
            chosen = p["inputs"] in args.inputs and p["sparsity"] in args.sparsity
            for method in args.methods if chosen else ():
                if method == "dense" and p["outputs"] * p["width"] > DENSE_LIMIT:
                    p[method] = {"skipped": f"a dense readout of {p['outputs'] * p['width']:,}"}
                elif method not in p:
                    p[method], _ = compile_point(
                        p["inputs"], p["sparsity"], method, p["width"], args
                    )
                    print(
                        f"m={p['inputs']} s={p['sparsity']} width {p['width']}: {method} "
                        f"{p[method]['hardest_k_sample_error_rate']}",
                        flush=True,
                    )
            if chosen and "classes_at_init" not in p["trained"]:
                p["trained"]["classes_at_init"] = init_classes(
                    p["inputs"], p["sparsity"], p["width"], args
                )
        report.setdefault("added_later", []).append(
            {"methods": args.methods, "trained": "classes_at_init"}
        )
        write_report(args.out, report)
        args.plot_only = True
    if args.references:
        report = json.loads(args.out.read_text())
        args.samples, args.seed = report["settings"]["samples"], report["settings"]["seed"]
        refs = []
        for m in args.inputs:
            for s in args.sparsity:
                ref = {"inputs": m, "sparsity": s}
                for side in ("superposed", "default"):
                    ref[side], _ = compile_point(m, s, side, None, args)
                print(f"m={m} s={s}: default {ref['default']['neurons']} neurons", flush=True)
                refs.append(ref)
        report["references"] = refs
        write_report(args.out, report)
        args.plot_only = True
    if args.plot_only:
        report = json.loads(args.out.read_text())
        for path in plot(report, args.out.parent, args.sparsity):
            print(f"wrote {path}")
        print(tables(report))
        return
    load_before = os.getloadavg()[0]
    start = time.time()
    import torch

    head = {
        "task": "U-AND: inputs exactly-k-hot, outputs all pairwise ANDs",
        "settings": settings(args),
    }

    def partial(points: list[dict], references: list[dict]) -> None:
        report = {**head, "points": points, "references": references, "complete": False}
        write_report(args.out, report)

    report = {**head, **study(args, partial), "complete": True}
    report["wall_seconds"] = round(time.time() - start, 1)
    report["training_cpu_seconds"] = round(
        sum(p["trained"].get("cpu_seconds", 0.0) for p in report["points"]), 1
    )
    report["machine"] = machine(load_before, torch=torch.__version__, threads=1)
    write_report(args.out, report)
    for path in plot(report, args.out.parent, args.sparsity):
        print(f"wrote {path}")
    print(tables(report))


if __name__ == "__main__":
    main()
