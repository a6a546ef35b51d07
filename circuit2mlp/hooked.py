"""A compiled network as a hookable PyTorch module with its ground truth attached.

``circuit2mlp.load("W.npz")`` returns a :class:`torch.nn.Module` whose forward is exactly
:meth:`circuit2mlp.network.Network.forward` (row-major), with one named hook point per level:
``hook_level0`` after the embed, ``hook_level{i}`` after hidden layer i's ReLU. When
TransformerLens is importable the hook points are its ``HookPoint`` and the module is a
``HookedRootModule`` (so ``run_with_cache``, ``add_hook`` and SAELens' hooked training work);
otherwise they are plain identity submodules on which ``register_forward_hook`` works, and the
module still offers :meth:`run_with_cache`. Why: interpretability tools expect a model whose
activations they can hook by name; here each hooked activation comes with its true features.

The feature dictionary travels with the module: ``module.features[i]`` holds level i's wire
names, read-off matrix (F_i, d_i) and bias, and :meth:`read_off` gives every wire's value;
``module.superposition`` gives per level the wires per neuron and :meth:`served_wires` the
wires one neuron serves.
"""

from __future__ import annotations

import os
from typing import Any

import numpy as np
import scipy.sparse as sp

from circuit2mlp.layer_plan import DENSE_LIMIT
from circuit2mlp.network import Network
from circuit2mlp.optional import require
from circuit2mlp.superposition import superposition

torch = require("torch", "circuit2mlp.load (a hookable PyTorch module)")
nn = torch.nn

try:  # TransformerLens is optional: its HookPoint when present, identity modules otherwise
    try:
        from transformer_lens import HookedRootModule
    except ImportError:  # TransformerLens before 3 kept it beside HookPoint
        from transformer_lens.hook_points import HookedRootModule
    from transformer_lens.hook_points import HookPoint

    HAVE_TRANSFORMER_LENS = True
except Exception:  # ImportError, or a TransformerLens that fails on this torch
    HAVE_TRANSFORMER_LENS = False

    class HookPoint(nn.Identity):  # type: ignore[no-redef]
        """An identity submodule whose name is a hook point (use register_forward_hook)."""

    HookedRootModule = nn.Module  # type: ignore[misc,assignment]


class LevelFeatures(nn.Module):
    """One level's ground truth: ``read(h) = h @ readout.T + bias`` is every wire's value."""

    def __init__(self, names: tuple[str, ...], readout: sp.csr_matrix, bias: np.ndarray) -> None:
        super().__init__()
        self.names = tuple(names)
        rows, cols = readout.shape
        if rows * cols <= DENSE_LIMIT:
            dense = np.asarray(readout.toarray(), dtype=np.float32)
            self.register_buffer("readout", torch.from_numpy(dense))
        else:  # a 31,125-wire read-off is kept sparse (COO), as in the weights file
            coo = sp.coo_matrix(readout, dtype=np.float32)
            index = torch.from_numpy(np.vstack([coo.row, coo.col]).astype(np.int64))
            values = torch.from_numpy(coo.data)
            self.register_buffer(
                "readout",
                torch.sparse_coo_tensor(index, values, (rows, cols), check_invariants=False),
            )
        self.register_buffer("bias", torch.from_numpy(np.asarray(bias, dtype=np.float32)))

    def read(self, h: torch.Tensor) -> torch.Tensor:
        """(batch, d) activations → (batch, F) wire values."""
        if self.readout.is_sparse:
            return torch.sparse.mm(self.readout, h.T).T + self.bias
        return h @ self.readout.T + self.bias


class HookedCircuitMLP(HookedRootModule):
    """The compiled MLP with a hook point per level and the feature dictionary attached."""

    def __init__(
        self, network: Network, dense_limit: int = DENSE_LIMIT, features: bool = True
    ) -> None:
        super().__init__()
        from circuit2mlp.torch_module import to_module

        self.input_names = tuple(network.input_names)
        self.output_names = tuple(network.output_names)
        self.meta: dict[str, Any] = dict(network.meta)
        #: per level: neurons, wires, wires per neuron, wires a neuron serves (mean, max)
        self.superposition: list[dict[str, Any]] = superposition(network)
        seq = to_module(network, dense_limit)
        linears = [m for m in seq if not isinstance(m, nn.ReLU)]
        self.embed = linears[0]
        self.layers = nn.ModuleList(linears[1:-1])
        self.readout = linears[-1]
        self.levels = len(self.layers) + 1
        for i in range(self.levels):
            setattr(self, f"hook_level{i}", HookPoint())
        self.features = nn.ModuleList(
            [LevelFeatures(f.names, f.readout, f.bias) for f in network.features]
            if features
            else []
        )
        if HAVE_TRANSFORMER_LENS:
            self.setup()

    def hook(self, level: int) -> nn.Module:
        """The hook point of a level."""
        return getattr(self, f"hook_level{level}")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(batch, m) inputs → (batch, n) outputs; output bit j is y[:, j] > 0.5."""
        h = self.hook(0)(self.embed(x))
        for i, layer in enumerate(self.layers):
            h = self.hook(i + 1)(torch.relu(layer(h)))
        return self.readout(h)

    if not HAVE_TRANSFORMER_LENS:

        def run_with_cache(self, x: torch.Tensor) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
            """Outputs and every hook point's activation, by name (as TransformerLens does)."""
            cache: dict[str, torch.Tensor] = {}
            handles = [
                self.hook(i).register_forward_hook(
                    lambda _m, _inp, out, name=f"hook_level{i}": cache.__setitem__(name, out)
                )
                for i in range(self.levels)
            ]
            try:
                y = self(x)
            finally:
                for handle in handles:
                    handle.remove()
            return y, cache

    def served_wires(self, level: int, neuron: int) -> list[tuple[str, float]]:
        """The wires neuron ``neuron`` of ``level`` serves (whose read-offs use it), with
        their read-off weights, largest first."""
        readout = self.features[level].readout
        names = self.features[level].names
        if readout.is_sparse:  # never densified: a U-AND read-off has 10^9 entries
            coo = readout.coalesce()
            rows, cols = coo.indices()
            hit = (cols == neuron) & (coo.values() != 0)
            pairs = list(zip(rows[hit].tolist(), coo.values()[hit].tolist(), strict=True))
        else:
            column = readout[:, neuron]
            pairs = [(r, float(column[r])) for r in torch.nonzero(column).flatten().tolist()]
        return sorted(((names[r], w) for r, w in pairs), key=lambda p: (-abs(p[1]), p[0]))

    def read_off(self, level: int, h: torch.Tensor) -> torch.Tensor:
        """Every wire's value at ``level`` from that level's activations (batch, d)."""
        return self.features[level].read(h)


def load(
    path: str | os.PathLike, dense_limit: int = DENSE_LIMIT, features: bool = True
) -> HookedCircuitMLP:
    """Read a weights file (.npz) into a :class:`HookedCircuitMLP` in eval mode. Pass
    ``features=False`` to leave out the read-off matrices."""
    return HookedCircuitMLP(Network.load(path), dense_limit, features).eval()
