"""Training a one-hidden-layer ReLU MLP on U-AND at a cost per step independent of C(m, 2).

Used by ``trained_baseline.py`` (a sibling module: ``python benchmarks/trained_baseline.py``
puts ``benchmarks/`` on the path). The network is m -> width (ReLU) -> C(m, 2) (linear), the
compiled networks' architecture; its output is read as 1 above 1/2.

Why sampling: the loss of one sample sums over all C(m, 2) outputs (32,640 at m = 256), but a
sample has at most C(s, 2) positive outputs, and an output is positive in about one sample in
C(m, 2) / C(s, 2). Computing every output costs C(m, 2) x width per sample and buys almost
nothing but easy negatives. Each sample's loss is instead estimated without bias from

* its positive outputs, exactly (weight ``pos_weight`` each);
* ``touched`` outputs drawn uniformly from those pairing an active input with an inactive
  one (k (m - k) of them; each drawn term weighted k (m - k) / touched);
* ``far`` outputs drawn uniformly from the pairs of two inactive inputs (C(m - k, 2); each
  weighted C(m - k, 2) / far).

The sum of the weighted squared errors is an unbiased estimate of the sample's full loss, so
the gradient is unbiased for both layers. The inputs are k-hot, so the hidden layer costs k
rows of its weight (an embedding sum), and only the output rows drawn are read: a step costs
(k + C(s, 2) + touched + far) x width per sample. The output layer is trained by Adam
restricted to the rows a step read (lazy Adam: the other rows' moments wait), the hidden layer
by Adam.

Plateau: every :func:`eval_interval` steps the same estimator on a fixed validation set (its own
seed, more draws per sample) gives the validation loss. When none of the last ``patience``
evaluations is more than ``tolerance`` (relative) below the loss at the last such gain (so
slow gains of a fraction of ``tolerance`` per evaluation add up and count), the
learning rate drops by ``lr_drop``; after ``drops`` drops the next such stall ends training:
the point has *plateaued*. A point whose CPU budget runs out first has not.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from math import ceil, comb

import numpy as np


@dataclass(frozen=True)
class TrainSettings:
    """Everything a training run depends on besides (m, s, width)."""

    batch: int = 256
    touched: int = 8
    far: int = 8
    pos_weight: float = 4.0
    lr: float = 3e-3
    lr_drop: float = 0.3
    drops: int = 1
    eval_every: int = 200
    patience: int = 3
    tolerance: float = 0.01
    val_samples: int = 1024
    val_draws: int = 16
    seed: int = 0


def pair_table(m: int) -> np.ndarray:
    """(m, m) output index of and_i_j for i != j (symmetric; 0 on the unused diagonal), in the
    U-AND circuit's output order (pairs i < j, lexicographic)."""
    i, j = np.triu_indices(m, k=1)
    table = np.zeros((m, m), dtype=np.int64)
    table[i, j] = table[j, i] = np.arange(i.size)
    return table


def draw_actives(m: int, s: int, n: int, rng: np.random.Generator) -> np.ndarray:
    """n samples as (n, s) active inputs, ascending, padded with m: k = s with probability
    3/4, otherwise uniform in 0..s-1 (every level is trained, the hardest most)."""
    ks = np.where(rng.random(n) < 0.75, s, rng.integers(0, max(s, 1), size=n))
    picks = np.sort(np.argsort(rng.random((n, m)), axis=1)[:, :s], axis=1)
    act = np.where(np.arange(s)[None, :] < ks[:, None], picks, m)
    return np.sort(act, axis=1)


def expected_positives(s: int) -> float:
    """Mean number of 1 outputs per sample under :func:`draw_actives`."""
    low = np.mean([comb(k, 2) for k in range(s)]) if s else 0.0
    return 0.75 * comb(s, 2) + 0.25 * low


def _inactive(act: np.ndarray, t: np.ndarray) -> np.ndarray:
    """The t-th inactive input (0-based) of each sample; ``act`` ascending, padded with m,
    ``t`` of shape (n, draws)."""
    j = t.copy()
    for col in range(act.shape[1]):  # skip over each active input at or below j
        j += j >= act[:, col : col + 1]
    return j


def draw_terms(
    act: np.ndarray, m: int, table: np.ndarray, touched: int, far: int, pos_weight: float,
    rng: np.random.Generator,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per sample: output indices, weights and 0/1 targets of the terms of the loss estimate
    (positives, ``touched`` and ``far`` draws); (n, C(s, 2) + touched + far) each. Unused
    slots have weight 0."""
    n, s = act.shape
    k = (act < m).sum(axis=1)
    idx, wts, tgt = [], [], []
    for first, second in ((i, j) for i in range(s) for j in range(i + 1, s)):
        valid = act[:, second] < m
        pair = table[np.minimum(act[:, first], m - 1), np.minimum(act[:, second], m - 1)]
        idx.append(np.where(valid, pair, 0))
        wts.append(np.where(valid, pos_weight, 0.0))
        tgt.append(valid.astype(np.float64))
    idx = [x[:, None] for x in idx]
    wts = [x[:, None] for x in wts]
    tgt = [x[:, None] for x in tgt]
    # touched: an active input and an inactive one
    ku = np.maximum(k, 1)[:, None]
    pick = np.minimum((rng.random((n, touched)) * ku).astype(np.int64), ku - 1)
    a = np.take_along_axis(act, pick, axis=1)
    j = _inactive(act, (rng.random((n, touched)) * (m - k)[:, None]).astype(np.int64))
    ok = k[:, None] >= 1
    idx.append(np.where(ok, table[np.minimum(a, m - 1), np.minimum(j, m - 1)], 0))
    wts.append(np.where(ok, (k * (m - k) / touched)[:, None], 0.0).repeat(touched, axis=1))
    tgt.append(np.zeros((n, touched)))
    # far: two distinct inactive inputs
    free = (m - k)[:, None]
    t1 = (rng.random((n, far)) * free).astype(np.int64)
    t2 = (rng.random((n, far)) * (free - 1)).astype(np.int64)
    t2 += t2 >= t1
    j1, j2 = _inactive(act, t1), _inactive(act, t2)
    n_far = np.array([comb(int(f), 2) for f in (m - k)], dtype=np.float64)
    idx.append(table[np.minimum(j1, m - 1), np.minimum(j2, m - 1)])
    wts.append((n_far / far)[:, None].repeat(far, axis=1))
    tgt.append(np.zeros((n, far)))
    return np.concatenate(idx, 1), np.concatenate(wts, 1), np.concatenate(tgt, 1)


def initial_hidden(m: int, width: int, gen):
    """The hidden layer's (m + 1, width) table (padding row zero) and bias as training
    starts, drawn from the torch generator ``gen`` (an int: a fresh one seeded by it)."""
    import torch

    if isinstance(gen, int):
        gen = torch.Generator().manual_seed(gen)
    bound = 1 / np.sqrt(m)
    w1 = (torch.rand(m + 1, width, generator=gen) * 2 - 1) * bound
    w1[m] = 0
    return w1, (torch.rand(width, generator=gen) * 2 - 1) * bound


class UandMLP:
    """The network's tensors: hidden weight as an (m + 1, width) table (row m = padding, kept
    at zero) and bias, trained by Adam; output weight (C(m, 2), width) and bias (C(m, 2),)
    with Adam moments of their own, updated only on the rows a step read (lazy Adam, bias
    correction by the global step). PyTorch's ``nn.Linear`` initialisation."""

    def __init__(self, m: int, width: int, seed: int, lr: float):
        import torch

        gen = torch.Generator().manual_seed(seed)
        n_out = comb(m, 2)
        b_out = 1 / np.sqrt(width)
        w1, b1 = initial_hidden(m, width, gen)
        self.w1, self.b1 = torch.nn.Parameter(w1), torch.nn.Parameter(b1)
        self.body = torch.optim.Adam([self.w1, self.b1], lr=lr)
        # output layer: bias as a last column of ones' weight, one table
        w2 = (torch.rand(n_out, width + 1, generator=gen) * 2 - 1) * b_out
        w2[:, width] = 0
        self.w2 = w2
        self.moment1 = torch.zeros_like(w2)
        self.moment2 = torch.zeros_like(w2)
        self.m, self.lr, self.t = m, lr, 0

    def hidden(self, act):
        import torch
        import torch.nn.functional as F

        h = torch.relu(F.embedding(act, self.w1, padding_idx=self.m).sum(1) + self.b1)
        return torch.cat([h, torch.ones(h.shape[0], 1)], dim=1)

    def outputs(self, act, idx, rows=None, inverse=None):
        """(n, terms) outputs ``idx`` of each sample (``rows``: the output rows to read,
        ``inverse``: idx into them)."""
        if rows is None:
            rows, inverse = self.w2, idx
        return self._dot(rows, inverse, self.hidden(act))

    def step(self, act, idx, wts, tgt, batch: int) -> float:
        """One Adam step on the loss estimate of these terms; the loss.

        The output layer's part is computed by hand: with S the (rows read x samples) sparse
        matrix holding each term's d loss / d output, the drawn rows' gradient is S h and the
        hidden activations' is S^T rows, two sparse products that touch each read row once
        (autograd through a gathered (batch, terms, width) tensor cost four times as much).
        ``step_autograd`` is the reference it is tested against."""
        import torch

        uniq, inverse = torch.unique(idx, return_inverse=True)
        rows = self.w2.index_select(0, uniq)
        h = self.hidden(act)
        hd = h.detach()
        out = self._dot(rows, inverse, hd)
        err = out - tgt
        loss = (wts * err**2).sum() / batch
        d_out = (2 / batch) * wts * err
        n, terms = idx.shape
        where = torch.stack([inverse.reshape(-1), torch.arange(n).repeat_interleave(terms)])
        s_mat = torch.sparse_coo_tensor(
            where, d_out.reshape(-1), (uniq.numel(), n), check_invariants=False
        ).coalesce()
        grad_rows = torch.sparse.mm(s_mat, hd)
        grad_h = torch.sparse.mm(s_mat.t().coalesce(), rows)
        self.body.zero_grad()
        h.backward(grad_h)
        self.body.step()
        self._adam_rows(uniq, rows, grad_rows)
        return float(loss)

    @staticmethod
    def _dot(rows, inverse, h):
        """(n, terms): row ``inverse[i, t]`` of ``rows`` dotted with ``h[i]``."""
        import torch

        picked = rows.index_select(0, inverse.reshape(-1)).view(*inverse.shape, -1)
        return torch.bmm(picked, h[:, :, None])[..., 0]

    def step_autograd(self, act, idx, wts, tgt, batch: int) -> float:
        """:meth:`step` with the output layer's gradient from autograd (the reference)."""
        import torch

        uniq, inverse = torch.unique(idx, return_inverse=True)
        rows = self.w2.index_select(0, uniq).requires_grad_()
        out = self.outputs(act, idx, rows, inverse)
        loss = (wts * (out - tgt) ** 2).sum() / batch
        self.body.zero_grad()
        loss.backward()
        self.body.step()
        self._adam_rows(uniq, rows.detach(), rows.grad)
        return float(loss.detach())

    def _adam_rows(self, uniq, rows, g) -> None:
        """Lazy Adam on the output rows ``uniq`` (current values ``rows``, gradient ``g``)."""
        import torch

        self.t += 1
        b1, b2 = 0.9, 0.999
        scale = self.lr * (1 - b2**self.t) ** 0.5 / (1 - b1**self.t)
        with torch.no_grad():
            m1 = self.moment1.index_select(0, uniq).mul_(b1).add_(g, alpha=1 - b1)
            m2 = self.moment2.index_select(0, uniq).mul_(b2).addcmul_(g, g, value=1 - b2)
            self.moment1.index_copy_(0, uniq, m1)
            self.moment2.index_copy_(0, uniq, m2)
            update = m1.div_(m2.sqrt_().add_(1e-8)).mul_(scale)
            self.w2.index_copy_(0, uniq, rows.sub_(update))

    def set_lr(self, lr: float) -> None:
        self.lr = lr
        for group in self.body.param_groups:
            group["lr"] = lr

    def numpy(self) -> tuple[np.ndarray, ...]:
        """(w1 (width, m), b1, w2 (C(m, 2), width), b2) as float32 arrays."""
        w1 = self.w1.detach().numpy()[: self.m].T.copy()
        w2 = self.w2.numpy()
        return w1, self.b1.detach().numpy().copy(), w2[:, :-1].copy(), w2[:, -1].copy()


def eval_interval(m: int, s: int, cfg: TrainSettings) -> int:
    """Steps between validation evaluations: ``eval_every``, or more where an output is 1
    less often than once in that many steps on average (m = 256: an output's positive comes
    every 55 (s = 3) to 170 (s = 2) steps of 256 samples), so that a stall means no gain over
    ``patience`` rounds in each of which every output was seen positive at least once."""
    return max(cfg.eval_every, ceil(comb(m, 2) / (cfg.batch * expected_positives(s))))


def train(m: int, s: int, width: int, seconds: float, cfg: TrainSettings) -> dict:
    """Train until the validation loss plateaus or ``seconds`` of CPU time pass; the weights
    (numpy) and what the run did."""
    import torch

    torch.set_num_threads(1)
    rng = np.random.default_rng([cfg.seed, m, s, width])
    table = pair_table(m)
    net = UandMLP(m, width, cfg.seed, cfg.lr)
    val_rng = np.random.default_rng([cfg.seed, m, s, 1])
    val_act = draw_actives(m, s, cfg.val_samples, val_rng)
    val_terms = draw_terms(val_act, m, table, cfg.val_draws, cfg.val_draws, cfg.pos_weight, val_rng)
    val = [torch.from_numpy(val_act), torch.from_numpy(val_terms[0])]
    val += [torch.from_numpy(x).float() for x in val_terms[1:]]

    def val_loss() -> float:
        with torch.no_grad():
            out = torch.cat([net.outputs(val[0][i : i + 256], val[1][i : i + 256])
                             for i in range(0, cfg.val_samples, 256)])
            return float((val[2] * (out - val[3]) ** 2).sum() / cfg.val_samples)

    every = eval_interval(m, s, cfg)
    lr, drops, steps, plateaued = cfg.lr, 0, 0, False
    best, since_best, history = val_loss(), 0, []
    mark = best  # the validation loss at the last gain of more than ``tolerance``
    history.append([0, round(best, 6), lr])
    since_reset = 0
    start = time.process_time()
    while time.process_time() - start < seconds:
        act = draw_actives(m, s, cfg.batch, rng)
        idx, wts, tgt = draw_terms(act, m, table, cfg.touched, cfg.far, cfg.pos_weight, rng)
        as_t = [torch.from_numpy(x) for x in (act, idx)]
        as_t += [torch.from_numpy(x).float() for x in (wts, tgt)]
        net.step(*as_t, cfg.batch)
        steps += 1
        if steps % every:
            continue
        current = val_loss()
        history.append([steps, round(current, 6), lr])
        since_reset += 1
        if current < (1 - cfg.tolerance) * mark:  # a real gain: the window starts again
            mark, since_best = current, 0
        else:  # slow gains add up against ``mark`` until they pass the tolerance
            since_best += 1
        best = min(best, current)
        if since_best >= cfg.patience and since_reset >= cfg.patience:
            if drops >= cfg.drops:
                plateaued = True
                break
            drops += 1
            lr *= cfg.lr_drop
            net.set_lr(lr)
            since_best, since_reset = 0, 0
    cpu = time.process_time() - start
    n_out = comb(m, 2)
    return {
        "weights": net.numpy(),
        "width": width,
        "steps": steps,
        "samples_seen": steps * cfg.batch,
        "positives_per_output": round(steps * cfg.batch * expected_positives(s) / n_out, 1),
        "cpu_seconds": round(cpu, 1),
        "cpu_cap_seconds": seconds,
        "eval_every": every,
        "plateaued": plateaued,
        "lr_drops": drops,
        "final_lr": lr,
        "best_val_loss": round(best, 6),
        "val_loss": history,
    }
