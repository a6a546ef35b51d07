"""Train standard sparse autoencoders on a compiled network and score them against the truth.

The network is U-AND with m = 250 inputs (all 31,125 pairwise ANDs) compiled on 2,000
superposed neurons: its one hidden level carries the 31,125 ANDs in superposition. Two SAE
families are trained on that level with plain PyTorch on CPU (one thread):

- ReLU SAE with an L1 penalty: ``a = relu((h - b_dec) W_enc + b_enc)``, ``ĥ = a W_dec + b_dec``,
  loss ``|h - ĥ|² + λ |a|_1`` with decoder rows renormalised to unit norm after every step;
- TopK SAE: the same with only the k largest pre-activations kept (no L1).

Training samples are drawn afresh from the network (inputs: k uniform in 0..3, the regime it
was compiled for); scores come from ``circuit2mlp score`` on a separate activation dataset
(``circuit2mlp activations``, another seed). Writes docs/results/sae_baseline.json and .png.

    python benchmarks/sae_baseline.py --weights uand250_w2000.npz --activations acts/ \
        --steps 400

Without ``--weights`` the network is generated and compiled into ``--workdir``; without
``--activations`` a 10^5-sample dataset is written there.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

import torch  # noqa: E402

from circuit2mlp.activations import (  # noqa: E402
    Sampler,
    default_distribution,
)
from circuit2mlp.network import Network  # noqa: E402
from circuit2mlp.score import load_dictionary, save_dictionary, score_level  # noqa: E402

LEVEL = 1


def cli(*args: object) -> None:
    subprocess.run([sys.executable, "-m", "circuit2mlp.cli", *map(str, args)], check=True, cwd=ROOT)


def prepare(workdir: Path, weights: Path | None, acts: Path | None, n: int) -> tuple[Path, Path]:
    """The U-AND m = 250 / width 2,000 network and a scoring dataset, built when not given."""
    workdir.mkdir(parents=True, exist_ok=True)
    if weights is None:
        weights = workdir / "uand250_w2000.npz"
        if not weights.exists():
            cli("generate", "uand", "--inputs", 250, "-o", workdir / "uand250.yaml")
            cli("compile", workdir / "uand250.yaml", "--width", 2000, "-o", weights, "-q")
    if acts is None:
        acts = workdir / "acts"
        if not acts.exists():
            cli("activations", weights, "-n", n, "-o", acts, "--seed", 0, "-q")
    return weights, acts


class Batches:
    """Fresh training batches of the level's activations (inputs drawn with seed 1)."""

    def __init__(self, network: Network, batch: int, seed: int = 1) -> None:
        self.network = network
        self.sampler = Sampler(default_distribution(network), seed)
        self.batch = batch

    def __next__(self) -> torch.Tensor:
        out: list[np.ndarray] = []

        def grab(level: int, h: np.ndarray) -> None:
            if level == LEVEL:
                out.append(np.ascontiguousarray(h.T))

        self.network.forward(self.sampler.draw(self.batch), callback=grab)
        return torch.from_numpy(out[0])


def train(kind: str, latents: int, sparsity: float, data: Batches, steps: int, lr: float):
    """Train one SAE; ``sparsity`` is the L1 coefficient (relu) or k (topk)."""
    torch.manual_seed(0)
    d = data.network.widths[LEVEL - 1]
    w_dec = torch.randn(latents, d)
    w_dec /= w_dec.norm(dim=1, keepdim=True)
    params = {
        "W_dec": torch.nn.Parameter(w_dec),
        "W_enc": torch.nn.Parameter(w_dec.T.clone()),
        "b_enc": torch.nn.Parameter(torch.zeros(latents)),
        "b_dec": torch.nn.Parameter(torch.zeros(d)),
    }
    opt = torch.optim.Adam(params.values(), lr=lr)
    k = int(sparsity)
    start = time.perf_counter()
    for _ in range(steps):
        h = next(data)
        pre = (h - params["b_dec"]) @ params["W_enc"] + params["b_enc"]
        if kind == "topk":
            top = torch.topk(pre, k, dim=1)
            a = torch.zeros_like(pre).scatter(1, top.indices, torch.relu(top.values))
            penalty = 0.0
        else:
            a = torch.relu(pre)
            penalty = sparsity * a.abs().sum(dim=1).mean()
        recon = a @ params["W_dec"] + params["b_dec"]
        loss = (recon - h).pow(2).sum(dim=1).mean() + penalty
        opt.zero_grad()
        loss.backward()
        opt.step()
        with torch.no_grad():
            params["W_dec"] /= params["W_dec"].norm(dim=1, keepdim=True).clamp_min(1e-8)
    seconds = time.perf_counter() - start
    tensors = {name: p.detach().numpy() for name, p in params.items()}
    meta = {"architecture": kind, "apply_b_dec_to_input": "true"}
    if kind == "topk":
        meta["k"] = str(k)
    return tensors, meta, seconds, float(loss.detach())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--weights", type=Path)
    parser.add_argument("--activations", type=Path)
    parser.add_argument("--workdir", type=Path, default=Path("sae_baseline_work"))
    parser.add_argument("--samples", type=int, default=100_000, help="scoring samples")
    parser.add_argument("--steps", type=int, default=400)
    parser.add_argument("--batch", type=int, default=512)
    parser.add_argument("--sizes", default="1000,4000")
    parser.add_argument("--topk", default="2,8", help="k values of the TopK SAEs")
    parser.add_argument("--l1", default="0.05", help="L1 coefficients of the ReLU SAEs")
    parser.add_argument("--out", type=Path, default=ROOT / "docs/results/sae_baseline")
    args = parser.parse_args()
    torch.set_num_threads(1)
    weights, acts = prepare(args.workdir, args.weights, args.activations, args.samples)
    network = Network.load(weights)
    width = network.widths[LEVEL - 1]
    data = Batches(network, args.batch)
    dist = default_distribution(network)
    runs = [("topk", float(k)) for k in args.topk.split(",") if k]
    runs += [("relu", float(c)) for c in args.l1.split(",") if c]
    from _report import cpu_facts

    report = {
        "command": "python " + " ".join(sys.argv),
        "machine": cpu_facts(),
        "network": {"circuit": "uand250", "width": width, "wires": len(network.features[1].names)},
        "rows": [],
    }
    rows = report["rows"]
    args.out.parent.mkdir(parents=True, exist_ok=True)
    for latents in (int(s) for s in args.sizes.split(",")):
        for kind, sparsity in runs:
            tensors, meta, seconds, loss = train(kind, latents, sparsity, data, args.steps, 1e-3)
            path = args.workdir / f"sae_{kind}_{latents}_{sparsity:g}.safetensors"
            save_dictionary(path, tensors, meta)
            t0 = time.perf_counter()
            scores = score_level(
                network, load_dictionary(path, width), LEVEL, acts, args.samples, dist
            )
            row = {
                "kind": kind,
                "latents": latents,
                "k" if kind == "topk" else "l1": sparsity,
                "train_seconds": round(seconds, 1),
                "train_samples": args.steps * args.batch,
                "final_loss": loss,
                "score_seconds": round(time.perf_counter() - t0, 1),
                **scores,
            }
            rows.append(row)
            # written after every SAE, so an interrupted run keeps what it measured
            args.out.with_suffix(".json").write_text(json.dumps(report, indent=1) + "\n")
            print(
                f"{kind} L={latents} {sparsity:g}: MCC {scores['mcc']:.3f}, "
                f"cos {scores['mean_max_cos']:.3f}, recovered {scores['recovered_fraction']:.3%}, "
                f"L0 {scores['l0']:.2f}, dead {scores['dead_latents']}, "
                f"train {seconds:.0f} s",
                flush=True,
            )
    plot(rows, args.out.with_suffix(".png"))
    print(f"wrote {args.out.with_suffix('.json')} and .png")


def plot(rows: list[dict], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import NullFormatter

    fig, axes = plt.subplots(1, 3, figsize=(13, 4))
    for (kind, latents), marker in zip(
        sorted({(r["kind"], r["latents"]) for r in rows}), "osD^v<>", strict=False
    ):
        sel = sorted(
            (r for r in rows if r["kind"] == kind and r["latents"] == latents),
            key=lambda r: r["l0"],
        )
        label = f"{kind}, {latents} latents"
        for ax, key in zip(axes, ("mcc", "mean_max_cos", "recovered_fraction"), strict=True):
            ax.plot([r["l0"] for r in sel], [r[key] for r in sel], marker=marker, label=label)
            ax.set_xlabel("L0 (latents on per sample)")
            ax.set_ylabel(key)
            ax.set_xscale("log")
            ax.xaxis.set_minor_formatter(NullFormatter())
    axes[0].legend(fontsize=8)
    fig.suptitle("SAEs on U-AND m = 250, width 2,000 (31,125 ANDs in superposition)")
    fig.tight_layout()
    fig.savefig(path, dpi=110)


if __name__ == "__main__":
    main()
