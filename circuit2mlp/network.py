"""The compiled network and its file format ``circuit2mlp/2`` (see docs/format.md).

A :class:`Network` is plain arrays: ``embed`` (d0, m), layers ``(weight (d_{i+1}, d_i), bias)``,
``readout`` (n, d_L) with its bias, and per level the ground-truth feature read-offs. Any matrix
may be a dense ndarray or a scipy CSR matrix; the file stores the latter as ``M.data``,
``M.indices``, ``M.indptr``, ``M.shape``.

Files are written deterministically (fixed zip timestamps, sorted JSON) and atomically (a
temporary file in the same folder, then rename), and read with ``allow_pickle=False`` and
validated before any large allocation.
"""

from __future__ import annotations

import io
import json
import os
import struct
import tokenize
import zipfile
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import scipy.sparse as sp

from circuit2mlp.circuitmap import CircuitMap
from circuit2mlp.codegen.blocks import DTYPE, Assembled, FeatureMap
from circuit2mlp.errors import NetworkFileError
from circuit2mlp.fileio import atomic_write
from circuit2mlp.forward import Linear, forward

FORMAT = "circuit2mlp/2"  # written when the network carries its circuit map, else /1
FORMAT_1 = "circuit2mlp/1"
Matrix = np.ndarray | sp.csr_matrix
#: zlib level of the npz members: 1 is ~4x faster than the default 6 on the large CSR index
#: arrays, for files ~15% larger (a 10^6-gate U-AND: 6 s against 21 s per read-off matrix).
COMPRESS_LEVEL = 1
MAX_ELEMENTS = 1 << 34  # refuse declared shapes beyond this before allocating anything
_ZIP_MAGIC = (b"PK\x03\x04", b"PK\x05\x06")  # a zip with members / an empty zip
_MAX_DEFLATE_RATIO = 1032  # deflate cannot expand data more than this (RFC 1951 limit)
# What zipfile, zlib and numpy's .npy header parser raise on corrupt or foreign bytes: all of
# them mean "this is not a valid weights file", never a bug of ours.
_CORRUPT = (
    OSError,
    ValueError,
    EOFError,
    zipfile.BadZipFile,
    zlib.error,
    struct.error,
    NotImplementedError,  # unsupported zip version, compression method or flag
    RuntimeError,  # encrypted member
    tokenize.TokenError,  # numpy parses old .npy headers with tokenize
    SyntaxError,  # ... and with ast.literal_eval
    OverflowError,
)
# meta keys that the tools read, with the check each must pass when present
_META_CHECKS: dict[str, tuple[str, Callable[[Any], bool]]] = {
    "sparsity": ("an integer from 0 to 64", lambda v: _is_int(v) and 0 <= v <= 64),
    "seed": ("a non-negative integer", lambda v: _is_int(v) and v >= 0),
    "gates": ("a non-negative integer", lambda v: _is_int(v) and v >= 0),
    "exact_neurons": ("a non-negative integer", lambda v: v is None or (_is_int(v) and v >= 0)),
    "method": ("a string", lambda v: isinstance(v, str)),
    "circuit": ("a string", lambda v: isinstance(v, str)),
    "source_sha256": ("null or a hex string", lambda v: v is None or _is_hex(v)),
    "layer_sizes": ("a list of integers", lambda v: isinstance(v, list) and all(map(_is_int, v))),
}


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_hex(value: Any) -> bool:
    return isinstance(value, str) and all(c in "0123456789abcdef" for c in value)


@dataclass
class Network:
    """A ReLU MLP with its provenance (meta), its circuit (as YAML) and its feature read-offs."""

    input_names: tuple[str, ...]
    output_names: tuple[str, ...]
    embed: Matrix
    layers: list[tuple[Matrix, np.ndarray]]
    readout: tuple[Matrix, np.ndarray]
    features: list[FeatureMap] = field(default_factory=list)
    meta: dict[str, Any] = field(default_factory=dict)
    circuit_yaml: str = ""
    #: the layered circuit and wire map (``circuit2mlp/2``); None for ``/1`` files
    circuit_map: CircuitMap | None = None

    @classmethod
    def from_assembled(
        cls,
        assembled: Assembled,
        input_names: tuple[str, ...],
        output_names: tuple[str, ...],
        meta: dict[str, Any],
        circuit_yaml: str,
        circuit_map: CircuitMap | None = None,
    ) -> Network:
        """Wrap codegen output with names, meta, the circuit text and its map."""
        meta = {**meta, "layer_sizes": [int(w.shape[0]) for w, _ in assembled.layers]}
        return cls(
            input_names,
            output_names,
            assembled.embed,
            assembled.layers,
            assembled.readout,
            assembled.features,
            meta,
            circuit_yaml,
            circuit_map,
        )

    @property
    def widths(self) -> list[int]:
        """Neurons per layer (d_1 .. d_L)."""
        return [int(w.shape[0]) for w, _ in self.layers]

    @property
    def neurons(self) -> int:
        """Total hidden neurons."""
        return sum(self.widths)

    def chain(self) -> list[Linear]:
        """The network as the chain :func:`circuit2mlp.forward.run` runs: the embed (no bias,
        no ReLU), each hidden layer (bias, ReLU), the readout (bias)."""
        return [
            Linear(self.embed, None, relu=False),
            *(Linear(weight, bias, relu=True) for weight, bias in self.layers),
            Linear(self.readout[0], self.readout[1], relu=False),
        ]

    def forward(self, x: np.ndarray, callback: Callable[[int, np.ndarray], None] | None = None):
        """Run the network on a batch: x (batch, m) of 0/1 → y (batch, n) float32.

        Activations are kept column-major (d, batch) so that sparse weights multiply directly.
        ``callback(level, h)`` sees every level's activations (for trace and feature checks).
        """
        return forward(self.chain(), x, callback)

    def save(self, path: str | os.PathLike) -> None:
        """Write the network as a ``circuit2mlp/2`` npz (``/1`` without a circuit map),
        atomically and byte-reproducibly."""
        arrays: dict[str, Any] = {
            "format": np.array(FORMAT if self.circuit_map is not None else FORMAT_1),
            "meta": np.array(json.dumps(self.meta, sort_keys=True)),
            "circuit": np.array(self.circuit_yaml),
            "input_names": np.array(self.input_names, dtype=str),
            "output_names": np.array(self.output_names, dtype=str),
        }
        _put(arrays, "embed", self.embed)
        for i, (weight, bias) in enumerate(self.layers):
            _put(arrays, f"layer{i}.weight", weight)
            arrays[f"layer{i}.bias"] = np.asarray(bias, dtype=DTYPE)
        _put(arrays, "readout.weight", self.readout[0])
        arrays["readout.bias"] = np.asarray(self.readout[1], dtype=DTYPE)
        for i, fmap in enumerate(self.features):
            arrays[f"features{i}.names"] = np.array(fmap.names, dtype=str)
            _put(arrays, f"features{i}.readout", fmap.readout)
            arrays[f"features{i}.bias"] = np.asarray(fmap.bias, dtype=DTYPE)
        if self.circuit_map is not None:
            arrays.update(self.circuit_map.arrays())
        write_npz_atomic(path, arrays)

    @classmethod
    def load(cls, path: str | os.PathLike) -> Network:
        """Read and validate a ``circuit2mlp/2`` or ``/1`` file (raises NetworkFileError)."""
        return _load(Path(path))


def _put(arrays: dict[str, Any], name: str, matrix: Matrix) -> None:
    if sp.issparse(matrix):
        csr = sp.csr_matrix(matrix, dtype=DTYPE)
        arrays[f"{name}.data"] = csr.data
        # int64 copies made one at a time, while writing (a 10^6-gate read-off: 0.5 GB each)
        arrays[f"{name}.indices"] = lambda: csr.indices.astype(np.int64)
        arrays[f"{name}.indptr"] = lambda: csr.indptr.astype(np.int64)
        arrays[f"{name}.shape"] = np.asarray(csr.shape, dtype=np.int64)
    else:
        arrays[name] = np.ascontiguousarray(matrix, dtype=DTYPE)


def write_npz_atomic(
    path: str | os.PathLike, arrays: dict[str, np.ndarray | Callable[[], np.ndarray]]
) -> None:
    """Write arrays as an npz that is identical byte for byte for identical arrays (a value
    may be a function returning the array, called when its member is written).

    ``numpy.savez`` stamps the current time into the zip; here every member gets a fixed
    timestamp. The file appears under its name only once complete (see fileio.atomic_write).
    """

    def write(handle) -> None:
        with zipfile.ZipFile(handle, "w", zipfile.ZIP_DEFLATED) as zf:
            for name, array in arrays.items():
                info = zipfile.ZipInfo(f"{name}.npy", date_time=(1980, 1, 1, 0, 0, 0))
                info.compress_type = zipfile.ZIP_DEFLATED
                info.external_attr = 0o644 << 16
                buffer = io.BytesIO()
                if callable(array):
                    array = array()
                np.lib.format.write_array(buffer, np.asanyarray(array), allow_pickle=False)
                zf.writestr(info, buffer.getbuffer(), compresslevel=COMPRESS_LEVEL)
                del buffer

    atomic_write(path, write)


# any of these present means layer i exists (a CSR weight has no plain "layer{i}.weight")
_LAYER_PARTS = ("weight", "bias", "weight.shape", "weight.data", "weight.indices", "weight.indptr")

_HEADER_READERS = {
    (1, 0): np.lib.format.read_array_header_1_0,
    (2, 0): np.lib.format.read_array_header_2_0,
}


class _Reader:
    """Checked access to the members of an npz (no pickles, shapes validated)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        try:
            with open(path, "rb") as handle:
                magic = handle.read(4)
                self.archive_size = os.fstat(handle.fileno()).st_size
        except FileNotFoundError:
            raise NetworkFileError(f"{path}: no such file") from None
        except IsADirectoryError:
            raise NetworkFileError(f"{path}: is a directory, not a weights file") from None
        except (OSError, ValueError) as exc:
            raise NetworkFileError(f"{path}: cannot read ({exc})") from None
        # np.load would read a bare .npy whole (allocating its declared shape) and try to
        # unpickle anything else: only let it see zip archives, whose members we check first.
        if magic not in _ZIP_MAGIC:
            raise NetworkFileError(f"{path}: not a circuit2mlp weights file (not an npz archive)")
        try:
            self.npz = np.load(path, allow_pickle=False)
        except _CORRUPT as exc:
            raise NetworkFileError(f"{path}: not a circuit2mlp weights file ({exc})") from None
        if not isinstance(self.npz, np.lib.npyio.NpzFile):
            raise NetworkFileError(f"{path}: not an npz archive")
        self.names = set(self.npz.files)

    def fail(self, message: str) -> NetworkFileError:
        return NetworkFileError(f"{self.path}: {message}")

    def get(self, name: str) -> np.ndarray:
        if name not in self.names:
            raise self.fail(f"missing array '{name}'")
        self._check_header(name)
        try:
            array = self.npz[name]
        except _CORRUPT as exc:
            raise self.fail(f"array '{name}' is corrupt ({_one_line(exc)})") from None
        if array.dtype.hasobject:
            raise self.fail(f"array '{name}' holds Python objects")
        return array

    def _check_header(self, name: str) -> None:
        """Refuse a member whose declared size is implausible before numpy allocates it.

        numpy allocates the declared shape of a zip member up front, so the declared size must
        fit the data actually present. The zip directory's sizes are themselves untrusted: the
        bound is the smallest of the stated size and what the stored bytes (no more than the
        archive holds) can expand to.
        """
        try:
            info = self.npz.zip.getinfo(f"{name}.npy")
            with self.npz.zip.open(info) as member:
                version = np.lib.format.read_magic(member)
                read_header = _HEADER_READERS.get(version)
                if read_header is None:
                    raise ValueError(f"unknown .npy version {version}")
                shape, _, dtype = read_header(member)
        except (*_CORRUPT, KeyError) as exc:
            raise self.fail(f"array '{name}' has a malformed header ({_one_line(exc)})") from None
        count = int(np.prod(shape, dtype=object)) if shape else 1
        if dtype.hasobject:
            raise self.fail(f"array '{name}' holds Python objects (pickles are never loaded)")
        stored = min(info.compress_size, self.archive_size)
        ratio = 1 if info.compress_type == zipfile.ZIP_STORED else _MAX_DEFLATE_RATIO
        available = min(info.file_size, stored * ratio) + 1024
        # zero-size items still cost a Python object each when iterated (names): count them
        if count > MAX_ELEMENTS or count * max(dtype.itemsize, 1) > available:
            raise self.fail(f"array '{name}' declares shape {shape}, larger than its data")

    def text(self, name: str) -> str:
        array = self.get(name)
        if array.shape != () or array.dtype.kind != "U":
            raise self.fail(f"'{name}' must be a 0-d string array")
        return str(array)

    def strings(self, name: str) -> tuple[str, ...]:
        array = self.get(name)
        if array.ndim != 1 or array.dtype.kind != "U":
            raise self.fail(f"'{name}' must be a 1-d string array")
        return tuple(str(s) for s in array)

    def vector(self, name: str, size: int) -> np.ndarray:
        array = self.get(name)
        if array.shape != (size,) or array.dtype.kind != "f":
            raise self.fail(f"'{name}' must be a float vector of length {size}, got {array.shape}")
        return self.finite(name, array.astype(DTYPE))

    def finite(self, name: str, array: np.ndarray) -> np.ndarray:
        if not np.all(np.isfinite(array)):
            raise self.fail(f"'{name}' holds NaN or infinite values")
        return array

    def matrix(self, name: str, rows: int | None = None, cols: int | None = None) -> Matrix:
        if f"{name}.shape" in self.names:
            matrix = self._csr(name)
        else:
            matrix = self.get(name)
            if matrix.ndim != 2 or matrix.dtype.kind != "f":
                raise self.fail(f"'{name}' must be a 2-d float matrix, got {matrix.shape}")
            matrix = self.finite(name, matrix.astype(DTYPE))
        r, c = matrix.shape
        if (rows is not None and r != rows) or (cols is not None and c != cols):
            want = f"({rows if rows is not None else '*'}, {cols if cols is not None else '*'})"
            raise self.fail(f"'{name}' has shape {matrix.shape}, expected {want}")
        return matrix

    def _csr(self, name: str) -> sp.csr_matrix:
        shape = self.get(f"{name}.shape")
        if shape.shape != (2,) or shape.dtype.kind not in "iu" or np.any(shape < 0):
            raise self.fail(f"'{name}.shape' must hold two non-negative integers")
        rows, cols = (int(v) for v in shape)
        if max(rows, cols) >= 1 << 31:
            raise self.fail(f"'{name}' declares an implausible shape {rows} x {cols}")
        data = self.get(f"{name}.data")
        indices = self.get(f"{name}.indices")
        indptr = self.get(f"{name}.indptr")
        ok = (
            data.ndim == indices.ndim == indptr.ndim == 1
            and data.dtype.kind == "f"
            and indices.dtype.kind in "iu"
            and indptr.dtype.kind in "iu"
            and len(indptr) == rows + 1
            and len(data) == len(indices)
            and (len(indptr) == 0 or (indptr[0] == 0 and indptr[-1] == len(data)))
            and np.all(np.diff(indptr) >= 0)
            and (len(indices) == 0 or (indices.min() >= 0 and indices.max() < cols))
        )
        if not ok:
            raise self.fail(f"CSR parts of '{name}' disagree with each other or its shape")
        data = self.finite(name, data.astype(DTYPE))
        return sp.csr_matrix((data, indices, indptr), shape=(rows, cols))


def _one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split()) or type(exc).__name__


def _meta(reader: _Reader) -> dict[str, Any]:
    """The meta JSON object, with the fields the tools read type-checked (a hostile value,
    such as a sparsity of "3" or 10**9, must be refused here, not crash verify later)."""
    try:
        meta = json.loads(reader.text("meta"))
    except (ValueError, RecursionError) as exc:  # JSONDecodeError, too-long ints, deep nesting
        raise reader.fail(f"'meta' is not valid JSON ({_one_line(exc)})") from None
    if not isinstance(meta, dict):
        raise reader.fail("'meta' must be a JSON object")
    for key, (want, ok) in _META_CHECKS.items():
        if key in meta and not ok(meta[key]):
            raise reader.fail(f"meta '{key}' must be {want}, got {json.dumps(meta[key])[:40]}")
    return meta


def _load(path: Path) -> Network:
    reader = _Reader(path)
    with reader.npz:
        fmt = reader.text("format")
        if fmt not in (FORMAT, FORMAT_1):
            raise reader.fail(f"format is '{fmt}', expected '{FORMAT}' or '{FORMAT_1}'")
        meta = _meta(reader)
        circuit_yaml = reader.text("circuit")
        inputs = reader.strings("input_names")
        outputs = reader.strings("output_names")
        embed = reader.matrix("embed", cols=len(inputs))
        width = embed.shape[0]
        layers = []
        i = 0
        while any(f"layer{i}.{part}" in reader.names for part in _LAYER_PARTS):
            weight = reader.matrix(f"layer{i}.weight", cols=width)
            layers.append((weight, reader.vector(f"layer{i}.bias", weight.shape[0])))
            width = weight.shape[0]
            i += 1
        sizes = meta.get("layer_sizes")
        if isinstance(sizes, list) and sizes != [int(w.shape[0]) for w, _ in layers]:
            raise reader.fail(
                f"meta 'layer_sizes' says {len(sizes)} layers of {sizes}, the arrays hold "
                f"{[int(w.shape[0]) for w, _ in layers]}"
            )
        readout = reader.matrix("readout.weight", rows=len(outputs), cols=width)
        readout_bias = reader.vector("readout.bias", len(outputs))
        features = []
        widths = [embed.shape[0], *(w.shape[0] for w, _ in layers)]
        for level, d in enumerate(widths):
            if f"features{level}.names" not in reader.names:
                break
            names = reader.strings(f"features{level}.names")
            rmat = sp.csr_matrix(reader.matrix(f"features{level}.readout", len(names), d))
            bias_name = f"features{level}.bias"
            bias = (
                reader.vector(bias_name, len(names))
                if bias_name in reader.names
                else np.zeros(len(names), DTYPE)
            )
            features.append(FeatureMap(names, rmat, bias))
        circuit_map = None
        if fmt == FORMAT:
            circuit_map = CircuitMap.read(
                reader.get, reader.fail, inputs, len(outputs), [len(f.names) for f in features]
            )
    return Network(
        inputs,
        outputs,
        embed,
        layers,
        (readout, readout_bias),
        features,
        meta,
        circuit_yaml,
        circuit_map,
    )
