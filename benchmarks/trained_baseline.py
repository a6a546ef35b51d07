"""A trained MLP of the compiled network's shape on the U-AND task, for comparison.

Not a test: run ``python benchmarks/trained_baseline.py`` (needs PyTorch, CPU is enough:
``pip install torch``; about two minutes). It writes ``docs/results/trained_baseline.json``.

The question it answers: is compiling worth it, against simply training a network of the same
size on the same data for a fixed time budget? Steps:

1. build the U-AND circuit on m inputs (all m(m-1)/2 pairwise ANDs) and compile it with the
   default method at ``--width`` neurons per layer (``CompileConfig(width=...)``, where the
   compiler has that option; ``--width 0`` leaves the width to the compiler), then verify it
   as ``circuit2mlp verify`` would;
2. train a ReLU MLP with the *same hidden layer widths* (PyTorch, CPU, Adam) on the same input
   distribution: exactly-k-hot inputs with k uniform in 0..s, for ``--budget`` seconds (one
   hidden layer of ``--width`` when the compiled network is wider or missing);
3. score it on the very inputs ``verify`` draws (same generator, same seed): output-bit and
   sample error rates per k and overall, an output being 1 when its logit is positive.

Training detail: each step computes the logits of every output that is 1 somewhere in the
batch plus ``--negatives`` outputs drawn at random, and weights the sampled negatives so the
loss is an unbiased estimate of the full binary cross-entropy over all outputs. With 31,125
outputs and at most three 1s among them, computing every logit would spend ~99% of the budget
on outputs that are 0; sampling gives the trained network many more steps in the same time.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import time
from math import comb
from pathlib import Path

import numpy as np
from _report import machine, write_report

from circuit2mlp.generate import uand_circuit
from circuit2mlp.simulate import pack_bits, simulate_packed, sparse_inputs, unpack_bits

OUT = Path(__file__).resolve().parent.parent / "docs" / "results" / "trained_baseline.json"


def pair_index(i: np.ndarray, j: np.ndarray, m: int) -> np.ndarray:
    """Output index of and_i_j (i < j) in the U-AND circuit's output order."""
    return i * m - i * (i + 1) // 2 + (j - i - 1)


def random_k_hot(m: int, s: int, n: int, rng: np.random.Generator) -> list[np.ndarray]:
    """n training samples as their active input lists, k uniform in 0..s, distinct inputs."""
    ks = rng.integers(0, s + 1, size=n)
    return [np.sort(rng.choice(m, size=k, replace=False)) for k in ks]


def evaluation_sets(m: int, s: int, samples: int, seed: int) -> list[np.ndarray]:
    """The inputs ``verify`` checks, per k = 0..s: same generator, same order of draws."""
    rng = np.random.default_rng(seed)
    return [sparse_inputs(m, k, samples, rng) for k in range(s + 1)]


def compile_and_verify(m: int, s: int, width: int | None, samples: int, seed: int) -> dict:
    """Compile U-AND(m) with the default method and verify it on the evaluation inputs."""
    from circuit2mlp.compiler import CompileConfig, compile_circuit
    from circuit2mlp.verify import verify

    circuit = uand_circuit(m)
    names = {f.name for f in dataclasses.fields(CompileConfig)}
    wanted = {"sparsity": s, "seed": seed, "width": width}
    options = {k: v for k, v in wanted.items() if k in names and v is not None}
    config = dataclasses.replace(CompileConfig(), **options)
    start = time.perf_counter()
    network, report = compile_circuit(circuit, config)
    compile_seconds = time.perf_counter() - start
    result = verify(circuit, network, samples=samples, sparsity=s, seed=seed)
    mine = score(lambda x: network.forward(x) > 0.5, circuit, evaluation_sets(m, s, samples, seed))
    return {
        "ones_found": mine["ones_found"],
        # the same figure from this script's scorer: equal when verify draws the same inputs
        "bit_error_rate_rescored": mine["bit_error_rate"],
        "method": config.method,
        "width_requested": width,
        "width_option_supported": "width" in names,
        "layer_widths": network.widths,
        "neurons": network.neurons,
        "exact_neurons": report.exact_neurons,
        "compile_seconds": round(compile_seconds, 2),
        "bit_error_rate": result.overall.bit_error_rate,
        "sample_error_rate": result.overall.sample_error_rate,
        "worst_margin": result.overall.worst_margin,
        "per_k": [
            {
                "k": st.k,
                "bit_error_rate": st.bit_error_rate,
                "sample_error_rate": st.sample_error_rate,
            }
            for st in result.per_k
        ],
    }


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
                m_rows = m.index_select(0, rows).mul_(b1).add_(g, alpha=1 - b1)
                v_rows = v.index_select(0, rows).mul_(b2).addcmul_(g, g, value=1 - b2)
                m.index_copy_(0, rows, m_rows)
                v.index_copy_(0, rows, v_rows)
                update = m_rows.div_(v_rows.sqrt_().add_(self.eps)).mul_(-scale)
                # rows are distinct: a copy is exact (and index_add_ is slow on CPU)
                tensor.index_copy_(0, rows, tensor.index_select(0, rows).add_(update))


def train(m: int, s: int, widths: list[int], args) -> tuple[object, dict]:
    """Train an MLP m -> widths... -> C(m, 2) for ``args.budget`` seconds."""
    import torch

    torch.manual_seed(args.seed)
    torch.set_num_threads(os.cpu_count() or 1)
    n_out = comb(m, 2)
    layers: list[torch.nn.Module] = []
    previous = m
    for w in widths:
        layers += [torch.nn.Linear(previous, w), torch.nn.ReLU()]
        previous = w
    body = torch.nn.Sequential(*layers)
    # The output layer is updated row-wise (lazy Adam, as torch's SparseAdam but ~50x faster
    # here): a step touches only the rows of the outputs it computes, instead of zeroing and
    # updating all C(m, 2) rows.
    bound = 1 / np.sqrt(previous)
    head_w = torch.empty(n_out, previous).uniform_(-bound, bound)  # Linear's init
    expected_ones = np.mean([comb(k, 2) for k in range(s + 1)])
    head_b = torch.full((n_out,), float(np.log(expected_ones / n_out)))  # the base rate
    head_opt = RowAdam([head_w, head_b], lr=args.lr)
    dense_opt = torch.optim.Adam(body.parameters(), lr=args.lr)
    params = [*body.parameters(), head_w, head_b]
    rng = np.random.default_rng(args.seed + 12345)

    steps, losses = 0, []
    start = time.perf_counter()
    while time.perf_counter() - start < args.budget:
        actives = random_k_hot(m, s, args.batch, rng)
        x = torch.zeros(args.batch, m)
        sizes = np.array([act.size for act in actives])
        x[np.repeat(np.arange(args.batch), sizes), np.concatenate(actives)] = 1.0
        rows, pos = [], []
        for b, act in enumerate(actives):
            if act.size >= 2:
                i, j = np.triu_indices(act.size, k=1)
                idx = pair_index(act[i], act[j], m)
                rows.append(np.full(idx.size, b))
                pos.append(idx)
        pos_rows = np.concatenate(rows) if rows else np.zeros(0, np.int64)
        pos_cols = np.concatenate(pos) if pos else np.zeros(0, np.int64)
        negatives = rng.choice(n_out, size=args.negatives, replace=False)
        columns, inverse = np.unique(np.concatenate([pos_cols, negatives]), return_inverse=True)
        target = torch.zeros(args.batch, columns.size)
        target[torch.from_numpy(pos_rows), torch.from_numpy(inverse[: pos_cols.size])] = 1.0
        # weights: positives count once; the zeros among sampled columns stand for all zeros
        sampled = np.zeros(columns.size, dtype=bool)
        sampled[inverse[pos_cols.size :]] = True
        weight = torch.zeros(args.batch, columns.size)
        weight[:, torch.from_numpy(sampled)] = (n_out - pos_cols.size / args.batch) / args.negatives
        weight = torch.where(target > 0, torch.ones_like(weight), weight)

        cols = torch.from_numpy(columns)
        w_rows = head_w[cols].requires_grad_()
        b_rows = head_b[cols].requires_grad_()
        logits = body(x) @ w_rows.T + b_rows
        loss = torch.nn.functional.binary_cross_entropy_with_logits(
            logits, target, weight=weight, reduction="sum"
        ) / (args.batch * n_out)
        dense_opt.zero_grad()
        loss.backward()
        dense_opt.step()
        head_opt.step(cols, [w_rows.grad, b_rows.grad])
        steps += 1
        if steps % 50 == 0:
            losses.append(float(loss.detach()))
    seconds = time.perf_counter() - start
    head = torch.nn.Linear(previous, n_out)
    with torch.no_grad():
        head.weight.copy_(head_w)
        head.bias.copy_(head_b)
    model = torch.nn.Sequential(body, head).eval()
    info = {
        "steps": steps,
        "seconds": round(seconds, 1),
        "samples_seen": steps * args.batch,
        "parameters": sum(p.numel() for p in params),
        "loss_every_50_steps": [round(v, 8) for v in losses],
    }
    return model, info


def torch_predictor(model):
    """x (n, m) 0/1 -> (n, outputs) bool: a trained model's outputs, 1 where the logit > 0."""
    import torch

    def predict(x: np.ndarray) -> np.ndarray:
        with torch.no_grad():
            return (model(torch.from_numpy(x.astype(np.float32))) > 0).numpy()

    return predict


def score(predict, circuit, sets: list[np.ndarray]) -> dict:
    """Bit and sample error rates per k and overall (an output is 1 when its logit is
    positive), plus the share of true 1s found: an all-zero answer already has a bit error
    rate of only ~10^-4, so that figure alone hides whether anything was learned."""
    totals = {"bits": 0, "bit_errors": 0, "samples": 0, "sample_errors": 0, "ones": 0, "found": 0}
    per_k = []
    for k, x in enumerate(sets):
        want = unpack_bits(simulate_packed(circuit, pack_bits(x)), x.shape[0])
        counts = dict.fromkeys(totals, 0)
        for start in range(0, x.shape[0], 1024):
            got = predict(x[start : start + 1024])
            target = want[start : start + 1024]
            wrong = got != target
            counts["bit_errors"] += int(wrong.sum())
            counts["sample_errors"] += int(wrong.any(axis=1).sum())
            counts["ones"] += int(target.sum())
            counts["found"] += int((got & target).sum())
        counts["bits"], counts["samples"] = want.size, x.shape[0]
        per_k.append(
            {
                "k": k,
                "samples": int(x.shape[0]),
                "bit_error_rate": counts["bit_errors"] / want.size,
                "sample_error_rate": counts["sample_errors"] / x.shape[0],
                "ones_found": counts["found"] / counts["ones"] if counts["ones"] else None,
            }
        )
        for key in totals:
            totals[key] += counts[key]
    return {
        "bit_error_rate": totals["bit_errors"] / totals["bits"],
        "sample_error_rate": totals["sample_errors"] / totals["samples"],
        "ones_found": totals["found"] / totals["ones"] if totals["ones"] else None,
        "per_k": per_k,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--inputs", "-m", type=int, default=250)
    parser.add_argument("--sparsity", "-s", type=int, default=3)
    parser.add_argument(
        "--width",
        type=int,
        default=2000,
        help="neurons per hidden layer, for both networks (0: the compiler's automatic width)",
    )
    parser.add_argument("--budget", type=float, default=60.0, help="training seconds")
    parser.add_argument("--batch", type=int, default=256)
    parser.add_argument("--negatives", type=int, default=1024)
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--samples", type=int, default=2000, help="evaluation samples per k")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--no-compile", action="store_true", help="train and score only")
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args()
    load_before = os.getloadavg()[0]

    m, s = args.inputs, args.sparsity
    compiled: dict = {}
    if not args.no_compile:
        try:
            compiled = compile_and_verify(m, s, args.width or None, args.samples, args.seed)
        except Exception as exc:  # report the baseline even if the compiler cannot do this
            compiled = {"error": f"{type(exc).__name__}: {exc}"}
    # The trained MLP copies the compiled network's layers when the compiler kept to the width
    # (it may add narrower layers); otherwise it gets one hidden layer of --width neurons.
    widths = compiled.get("layer_widths") or []
    if not widths or (args.width and max(widths) > args.width):
        widths = [args.width or 2000]
    print(f"U-AND m={m} ({comb(m, 2)} outputs), s={s}, hidden widths {widths}")
    if compiled and "error" not in compiled:
        print(
            f"  compiled ({compiled['method']}): {compiled['neurons']} neurons, "
            f"bit error {compiled['bit_error_rate']:.3e}, "
            f"sample error {compiled['sample_error_rate']:.3e}"
        )

    import torch

    circuit = uand_circuit(m)
    model, info = train(m, s, widths, args)
    sets = evaluation_sets(m, s, args.samples, args.seed)
    trained = {**info, **score(torch_predictor(model), circuit, sets)}
    print(
        f"  trained {info['steps']} steps in {info['seconds']} s: "
        f"bit error {trained['bit_error_rate']:.3e}, "
        f"sample error {trained['sample_error_rate']:.3e}, "
        f"true 1s found {trained['ones_found']:.1%}"
    )
    report = {
        "task": {"circuit": "uand", "inputs": m, "outputs": comb(m, 2), "sparsity": s},
        "hidden_widths": widths,
        "evaluation": {"samples_per_k": args.samples, "seed": args.seed},
        "compiled": compiled,
        "trained": trained,
        "training": {
            "budget_seconds": args.budget,
            "batch": args.batch,
            "negatives_per_step": args.negatives,
            "optimizer": f"Adam lr={args.lr}",
            "loss": "binary cross-entropy over all outputs (sampled negatives, reweighted)",
        },
        "machine": machine(
            load_before,
            torch=torch.__version__,
            threads=torch.get_num_threads(),
        ),
    }
    write_report(args.out, report)


if __name__ == "__main__":
    main()
