"""Trained ReLU MLPs against compiled networks on U-AND, at equal neuron counts.

Not a test: run ``nice -n 19 python benchmarks/trained_baseline.py`` (needs PyTorch, CPU is
enough; one thread; about 50 minutes on a shared 2-core machine, 10 of them training;
``--quick`` runs m = 32 alone). It writes ``docs/results/trained_baseline.json`` and one plot
per sparsity, ``docs/results/trained_baseline_s{s}.png``, and prints the tables of
docs/performance.md.

The question: at the same number of ReLU neurons, does a network *trained* on the task reach a
lower error than the compiled one? For every m in ``--inputs`` and s in ``--sparsity``:

1. compile U-AND(m) (all m(m-1)/2 pairwise ANDs) with the default method at its automatic
   width; its neuron count N is the reference;
2. for every factor f in ``--factors`` (N/4 .. 2N by default): compile at ``width = f N`` with
   the default method and with ``paper``, and train a network of the same architecture,
   m -> f N (ReLU) -> m(m-1)/2 (linear), with Adam until its loss plateaus (or the per-point
   time cap runs out; the JSON says which);
3. score every network with ``circuit2mlp.verify.verify`` on the same inputs (same seed): the
   trained weights are wrapped into a :class:`~circuit2mlp.network.Network`, so the figures
   (sample error per k, bit error, worst margin) come from the same code for both sides;
4. describe what each trained network computes: its neurons grouped by their input weights.

Training. Inputs exactly-k-hot, k = s with probability 3/4, otherwise uniform in 0..s-1 (the
hardest level is the one scored). Loss: squared error of every output against its 0/1 target,
positives weighted ``--pos-weight``; the network's output is read as 1 above 1/2, as a
compiled network's is. Each step evaluates, for every sample of the batch, *exactly* the
outputs that involve one of its active inputs (the positives and every hard negative), and the
others (pairs of inactive inputs) through ``--negatives`` random outputs shared by the batch,
reweighted so the loss is an unbiased estimate of the full sum; when the outputs a batch
touches cover most of them, all outputs are computed. The output layer is updated row-wise
(Adam restricted to the rows a step computed, "lazy" Adam), so a step costs what it computes.
Schedule: the loss is averaged over windows of ``--window`` steps; when the best window has
not improved by more than ``--tolerance`` (1 %) over ``--patience`` windows, the learning rate
drops by ``--lr-drop``; after ``--drops`` drops, the next such stall ends training: *plateau*.
A point whose time cap runs out first is reported as not plateaued.
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

from circuit2mlp.generate import uand_circuit  # noqa: E402
from circuit2mlp.network import Network  # noqa: E402
from circuit2mlp.verify import verify  # noqa: E402

#: The dense method's readout stores every (output, neuron) weight: points beyond this many
#: are not compiled with it (memory on a shared machine).
DENSE_LIMIT = 10**8
RESULTS = Path(__file__).resolve().parent.parent / "docs" / "results"


def pair_table(m: int) -> np.ndarray:
    """(m, m) output index of and_i_j for i != j (symmetric; -1 on the diagonal), in the
    U-AND circuit's output order (pairs i < j, lexicographic)."""
    i, j = np.triu_indices(m, k=1)
    table = np.full((m, m), -1, dtype=np.int64)
    table[i, j] = table[j, i] = np.arange(i.size)
    return table


def draw_actives(m: int, s: int, n: int, rng: np.random.Generator) -> np.ndarray:
    """n training samples as (n, s) active inputs padded with -1: k = s with probability 3/4,
    otherwise uniform in 0..s-1; distinct inputs."""
    ks = np.where(rng.random(n) < 0.75, s, rng.integers(0, max(s, 1), size=n))
    picks = np.argsort(rng.random((n, m)), axis=1)[:, :s]
    return np.where(np.arange(s)[None, :] < ks[:, None], picks, -1)


def expected_positives(s: int) -> float:
    """Mean number of 1 outputs per training sample under :func:`draw_actives`."""
    low = np.mean([comb(k, 2) for k in range(s)]) if s else 0.0
    return 0.75 * comb(s, 2) + 0.25 * low


# --------------------------------------------------------------------------- compiled side


def compile_point(m: int, s: int, method: str, width: int | None, args) -> tuple[dict, object]:
    """Compile U-AND(m) and verify it; the figures and the network."""
    from circuit2mlp.compiler import CompileConfig, compile_circuit

    circuit = uand_circuit(m)
    config = CompileConfig(method=method, sparsity=s, seed=args.seed, width=width)
    start = time.process_time()
    network, report = compile_circuit(circuit, config)
    cpu = time.process_time() - start
    result = verify(circuit, network, samples=args.samples, sparsity=s, seed=args.seed)
    return {
        "method": method,
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


class RowAdam:
    """Adam on chosen rows of large tensors (the rows a step computed); other rows keep their
    moments untouched, as in lazy/sparse Adam. Bias correction uses the global step."""

    def __init__(self, tensors: list, lr: float, betas=(0.9, 0.999), eps: float = 1e-8):
        import torch

        self.tensors, self.lr, self.betas, self.eps = tensors, lr, betas, eps
        self.m = [torch.zeros_like(t) for t in tensors]
        self.v = [torch.zeros_like(t) for t in tensors]
        self.t = 0

    def step(self, rows, grads: list) -> None:
        import torch

        self.t += 1
        b1, b2 = self.betas
        scale = self.lr * (1 - b2**self.t) ** 0.5 / (1 - b1**self.t)
        with torch.no_grad():
            for tensor, m, v, g in zip(self.tensors, self.m, self.v, grads, strict=True):
                if rows is None:  # every row
                    m.mul_(b1).add_(g, alpha=1 - b1)
                    v.mul_(b2).addcmul_(g, g, value=1 - b2)
                    tensor.addcdiv_(m, v.sqrt().add_(self.eps), value=-scale)
                    continue
                m_rows = m.index_select(0, rows).mul_(b1).add_(g, alpha=1 - b1)
                v_rows = v.index_select(0, rows).mul_(b2).addcmul_(g, g, value=1 - b2)
                m.index_copy_(0, rows, m_rows)
                v.index_copy_(0, rows, v_rows)
                update = m_rows.div_(v_rows.sqrt_().add_(self.eps)).mul_(-scale)
                tensor.index_copy_(0, rows, tensor.index_select(0, rows).add_(update))


class Plateau:
    """Window means of the loss; ``stalled()`` when the best window has not improved by more
    than ``tolerance`` (relative) over the last ``patience`` windows."""

    def __init__(self, window: int, patience: int, tolerance: float):
        self.window, self.patience, self.tolerance = window, patience, tolerance
        self.current: list[float] = []
        self.means: list[float] = []
        self.since = 0  # windows since the last reset (a learning-rate drop)

    def add(self, loss: float) -> bool:
        """Record a step's loss; True when a window just closed."""
        self.current.append(loss)
        if len(self.current) < self.window:
            return False
        self.means.append(float(np.mean(self.current)))
        self.current = []
        self.since += 1
        return True

    def stalled(self) -> bool:
        if self.since <= self.patience:
            return False
        recent = self.means[-self.patience :]
        before = self.means[-self.since : -self.patience]
        return min(recent) > (1 - self.tolerance) * min(before)

    def reset(self) -> None:
        self.since = 0


def train(m: int, s: int, width: int, seconds: float, args) -> dict:
    """Train m -> width (ReLU) -> C(m, 2) until the loss plateaus or ``seconds`` of CPU time
    pass; the weights (numpy) and what the run did."""
    import torch

    torch.manual_seed(args.seed)
    rng = np.random.default_rng([args.seed, m, s, width])
    n_out = comb(m, 2)
    table = torch.from_numpy(pair_table(m))
    first = torch.nn.Linear(m, width)
    bound = 1 / np.sqrt(width)  # torch.nn.Linear's initialisation, without a second copy
    head_w = torch.empty(n_out, width).uniform_(-bound, bound)
    head_b = torch.zeros(n_out)
    lr = args.lr
    body_opt = torch.optim.Adam(first.parameters(), lr=lr)
    head_opt = RowAdam([head_w, head_b], lr=lr)
    plateau = Plateau(args.window, args.patience, args.tolerance)
    batch, negatives = args.batch, min(args.negatives, n_out)
    drops, steps, plateaued = 0, 0, False
    history = []
    start = time.process_time()
    while time.process_time() - start < seconds:
        act = torch.from_numpy(draw_actives(m, s, batch, rng))  # (B, s), -1 = none
        valid = act >= 0
        x = torch.zeros(batch, m)
        rows = torch.arange(batch)[:, None].expand_as(act)
        x[rows[valid], act[valid]] = 1.0
        # touched outputs of each sample: pairs with one of its active inputs
        touched_cols = table[act.clamp(min=0)]  # (B, s, m): pairs (a, j); -1 on j = a
        keep = valid[:, :, None] & (touched_cols >= 0)
        # a pair of two active inputs appears twice (a, b) and (b, a): keep it once
        j = torch.arange(m)
        is_active = x.bool()  # (B, m)
        dup = is_active[:, None, :] & (j[None, None, :] < act[:, :, None])
        keep &= ~dup
        t_rows = rows[:, :, None].expand_as(touched_cols)[keep]
        t_cols = touched_cols[keep]
        t_target = is_active[t_rows, j.expand_as(touched_cols)[keep]].float()
        touched_union = torch.unique(t_cols)
        full = touched_union.numel() + negatives >= 0.7 * n_out
        if full:
            cols = None
            w_rows = head_w.requires_grad_()
            b_rows = head_b.requires_grad_()
        else:
            neg = torch.from_numpy(rng.choice(n_out, size=negatives, replace=False))
            cols, inverse = torch.unique(torch.cat([touched_union, neg]), return_inverse=True)
            w_rows = head_w[cols].requires_grad_()
            b_rows = head_b[cols].requires_grad_()
        hidden = torch.relu(first(x))
        y = hidden @ w_rows.T + b_rows  # (B, |cols|)
        weight = torch.zeros_like(y)
        target = torch.zeros_like(y)
        if full:
            weight.fill_(1.0)
            pos_cols = t_cols
        else:
            where = torch.searchsorted(cols, t_cols)
            pos_cols = where
            neg_pos = inverse[touched_union.numel() :]
            sampled = torch.zeros(batch, cols.numel(), dtype=torch.bool)
            sampled[:, neg_pos] = True
            touched_mask = torch.zeros_like(sampled)
            touched_mask[t_rows, where] = True
            easy = sampled & ~touched_mask  # random outputs not touched by the sample
            n_touched = torch.bincount(t_rows, minlength=batch).float()
            n_easy = easy.sum(1).clamp(min=1).float()
            scale = (n_out - n_touched) / n_easy
            weight = torch.where(easy, scale[:, None], weight)
            weight[t_rows, where] = 1.0
        target[t_rows, pos_cols] = t_target
        weight[t_rows, pos_cols] = torch.where(t_target > 0, args.pos_weight, 1.0)
        loss = (weight * (y - target) ** 2).sum() / batch
        body_opt.zero_grad()
        if full:
            head_w.grad = head_b.grad = None
        loss.backward()
        body_opt.step()
        head_opt.step(cols, [w_rows.grad, b_rows.grad])
        if full:
            head_w.requires_grad_(False)
            head_b.requires_grad_(False)
        steps += 1
        if plateau.add(float(loss.detach())):
            history.append([steps, plateau.means[-1], lr])
            if plateau.stalled():
                if drops >= args.drops:
                    plateaued = True
                    break
                drops += 1
                lr *= args.lr_drop
                for group in body_opt.param_groups:
                    group["lr"] = lr
                head_opt.lr = lr
                plateau.reset()
    cpu = time.process_time() - start
    return {
        "weights": (
            first.weight.detach().numpy().copy(),
            first.bias.detach().numpy().copy(),
            head_w.detach().numpy().copy(),
            head_b.detach().numpy().copy(),
        ),
        "width": width,
        "steps": steps,
        "samples_seen": steps * batch,
        # how often each output was 1 in the data seen, on average
        "positives_per_output": round(float(steps * batch * expected_positives(s) / n_out), 2),
        "cpu_seconds": round(cpu, 1),
        "cpu_cap_seconds": seconds,
        "plateaued": plateaued,
        "lr_drops": drops,
        "final_lr": lr,
        "final_window_loss": plateau.means[-1] if plateau.means else None,
        "loss_windows": [[a, round(b, 6), c] for a, b, c in history],
    }


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
    import torch

    torch.manual_seed(seed)
    first = torch.nn.Linear(m, width)
    return first.weight.detach().numpy().copy(), first.bias.detach().numpy().copy()


def neuron_classes(m: int, s: int, weights: tuple, seed: int) -> dict:
    """The hidden neurons grouped by their input weights. ``weights`` = (w1, b1, w2, b2); w2
    None (the initial network) counts every neuron that fires as used."""
    w1, b1, w2, _ = weights
    rng = np.random.default_rng(seed)
    act = draw_actives(m, s, 2000, rng)
    x = np.zeros((act.shape[0], m), dtype=np.float32)
    r, c = np.nonzero(act >= 0)
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


def budget_for(m: int, args) -> float:
    """CPU seconds a training point may take: ``--budget`` times the factor of ``--scale``
    for its m (by default most of it where training can get somewhere in that time)."""
    scale = dict(zip(args.inputs, args.scale, strict=False))
    return args.budget * scale.get(m, 1.0)


def study(args, partial) -> dict:
    """Every point of the grid; ``partial(points)`` after each one (the JSON so far)."""
    points: list[dict] = []
    import torch

    torch.set_num_threads(1)
    for s in args.sparsity:
        for m in args.inputs:
            base, _ = compile_point(m, s, "superposed", None, args)
            n_ref = base["neurons"]
            print(f"m={m} s={s}: default compile {n_ref} neurons", flush=True)
            for f in args.factors:
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
                run = train(m, s, width, budget_for(m, args), args)
                weights = run.pop("weights")
                net = as_network(m, s, weights)
                result = verify(
                    uand_circuit(m), net, samples=args.samples, sparsity=s, seed=args.seed
                )
                row["trained"] = {**run, "neurons": width, **figures(result)}
                row["trained"]["classes"] = neuron_classes(m, s, weights, args.seed + 1)
                row["trained"]["classes_at_init"] = init_classes(m, s, width, args)
                del net, weights
                t, c, p = row["trained"], row["superposed"], row["paper"]
                print(
                    f"  width {width}: trained {t['hardest_k_sample_error_rate']:.4f} "
                    f"({t['steps']} steps, {t['cpu_seconds']} s, plateau {t['plateaued']}); "
                    f"superposed {c.get('neurons')} n {c.get('hardest_k_sample_error_rate')}; "
                    f"paper {p.get('neurons')} n {p.get('hardest_k_sample_error_rate')}",
                    flush=True,
                )
                points.append({**row, "default_neurons": n_ref})
                partial(points)
    return {"points": points}


STYLES = {"superposed": "o-", "paper": "s--", "dense": "D-.", "trained": "^:"}


def plot(report: dict, out_dir: Path, sparsities: list[int]) -> list[str]:
    """One figure per s: hardest-k sample error against neurons, compiled and trained."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    written = []
    floor = 0.5 / report["settings"]["samples"]
    for s in sparsities:
        fig, ax = plt.subplots(figsize=(7, 4.5))
        pts = [p for p in report["points"] if p["sparsity"] == s]
        colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]
        for n, m in enumerate(sorted({p["inputs"] for p in pts})):
            rows = sorted((p for p in pts if p["inputs"] == m), key=lambda p: p["width"])
            for side, style in STYLES.items():
                have = [p for p in rows if "neurons" in p.get(side, {})]
                if not have:
                    continue
                xs = [p[side]["neurons"] for p in have]
                ys = [max(p[side]["hardest_k_sample_error_rate"], floor) for p in have]
                ax.plot(xs, ys, style, color=colors[n % len(colors)], label=f"m={m} {side}")
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel("hidden neurons")
        ax.set_ylabel(f"sample error rate at k = {s}")
        ax.set_title(f"U-AND, s = {s}: compiled (superposed, paper) and trained (floor = 0 errors)")
        ax.legend(fontsize=7, ncol=3)
        ax.grid(True, which="both", alpha=0.3)
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


def tables(report: dict) -> str:
    """The report as markdown: errors at equal neurons, then what the trained networks read."""
    methods = [m for m in ("superposed", "paper", "dense") if m in report["points"][0]]
    head = "| m | s | neurons | trained: k = s err | bit err | margin | plateau (steps, CPU s, "
    head += "1s/output) |" + "".join(f" {m}: k = s err | bit err | margin |" for m in methods)
    lines = [head, "|" + "---|" * (7 + 3 * len(methods))]
    for p in report["points"]:
        t = p["trained"]
        cells = [str(p["inputs"]), str(p["sparsity"]), f"{p['width']:,}"]
        cells += [
            _rate(t["hardest_k_sample_error_rate"]),
            _rate(t["bit_error_rate"]),
            f"{t['worst_margin']:+.2f}",
            f"{'yes' if t['plateaued'] else 'no'} ({t['steps']:,}, {t['cpu_seconds']:.0f}, "
            f"{t['positives_per_output']:.0f})",
        ]
        for side in (p.get(m, {}) for m in methods):
            if "neurons" not in side:
                cells += ["not built" if "skipped" in side else "failed", "-", "-"]
                continue
            extra = "" if side["neurons"] == p["width"] else f" ({side['neurons']:,} n)"
            cells += [
                _rate(side["hardest_k_sample_error_rate"]) + extra,
                _rate(side["bit_error_rate"]),
                f"{side['worst_margin']:+.2f}",
            ]
        lines.append("| " + " | ".join(cells) + " |")
    lines += [
        "",
        "| m | s | neurons | used (dead) | inputs read ≥ ½ max | two-level fit (at init) | at "
        "init: low / high level, bias (median) | readout density | largest classes: neurons × "
        "(inputs at high level, low / high level, bias) |",
        "|" + "---|" * 9,
    ]
    for p in report["points"]:
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
        default=40.0,
        help="CPU seconds per training point, times --scale for its m",
    )
    parser.add_argument(
        "--scale",
        type=float,
        nargs="+",
        default=[0.5, 1.0, 0.25, 0.125],
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
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--negatives", type=int, default=512)
    parser.add_argument("--pos-weight", type=float, default=4.0)
    parser.add_argument("--lr", type=float, default=3e-3)
    parser.add_argument("--lr-drop", type=float, default=0.3)
    parser.add_argument("--drops", type=int, default=2)
    parser.add_argument("--window", type=int, default=200, help="steps per loss window")
    parser.add_argument("--patience", type=int, default=3, help="windows")
    parser.add_argument("--tolerance", type=float, default=0.01)
    parser.add_argument("--samples", type=int, default=500, help="evaluation samples per k")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--quick", action="store_true", help="m = 32 only")
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

    def partial(points: list[dict]) -> None:
        write_report(args.out, {**head, "points": points, "complete": False})

    report = {**head, **study(args, partial), "complete": True}
    report["wall_seconds"] = round(time.time() - start, 1)
    report["training_cpu_seconds"] = round(
        sum(p["trained"]["cpu_seconds"] for p in report["points"]), 1
    )
    report["machine"] = machine(load_before, torch=torch.__version__, threads=1)
    write_report(args.out, report)
    for path in plot(report, args.out.parent, args.sparsity):
        print(f"wrote {path}")
    print(tables(report))


if __name__ == "__main__":
    main()
