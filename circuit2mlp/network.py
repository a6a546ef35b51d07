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
from circuit2mlp.codegen.blocks import DTYPE, Assembled, FeatureMap, LazyLayers
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
        meta = {**meta, "layer_sizes": [rows for rows, _ in _shapes(assembled.layers)]}
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
        return [rows for rows, _ in _shapes(self.layers)]

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
        for i in range(len(self.layers)):
            # each layer taken when its turn comes (a streamed assembly composes it then:
            # one neuron-level layer held at a time)
            arrays[f"layer{i}"] = _Members(lambda i=i: _layer_members(self.layers, i))
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
    def load(cls, path: str | os.PathLike, stream: bool = False) -> Network:
        """Read and validate a ``circuit2mlp/2`` or ``/1`` file (raises NetworkFileError).
        ``stream``: the hidden layers stay in the file (:class:`FileLayers`: each validated
        now, one at a time, and read again when asked for) -- for a pass over the layers in
        order that holds one at a time."""
        return _load(Path(path), stream)


def _shapes(layers) -> list[tuple[int, int]]:
    """(rows, cols) of each layer's weight, without composing a streamed layer."""
    if isinstance(layers, LazyLayers):
        return [(int(r), int(c)) for r, c in layers.shapes]
    return [(int(w.shape[0]), int(w.shape[1])) for w, _ in layers]


#: Elements per piece when a large member is written (its int64 form made piece by piece).
WRITE_CHUNK = 1 << 22


@dataclass(frozen=True)
class _Pieces:
    """A 1-d member written piece by piece: ``array`` converted to ``dtype`` WRITE_CHUNK
    elements at a time (the same bytes as the whole converted array, without holding it)."""

    array: np.ndarray
    dtype: np.dtype

    def header(self) -> bytes:
        """The .npy header of the converted array, as ``np.lib.format.write_array`` writes it."""
        buffer = io.BytesIO()
        description = {
            "descr": np.lib.format.dtype_to_descr(self.dtype),
            "fortran_order": False,
            "shape": (int(self.array.size),),
        }
        np.lib.format.write_array_header_1_0(buffer, description)  # 1-d: always fits 1.0
        return buffer.getvalue()

    def chunks(self):
        """The converted array's pieces, in order."""
        for start in range(0, self.array.size, WRITE_CHUNK):
            yield np.ascontiguousarray(self.array[start : start + WRITE_CHUNK], dtype=self.dtype)

    @property
    def nbytes(self) -> int:
        return int(self.array.size) * self.dtype.itemsize


@dataclass(frozen=True)
class _Members:
    """Several members made by one call when the first of them is written (``make`` returns
    them as {name: array} in order): a layer composed only when it is its turn."""

    make: Callable[[], dict[str, Any]]


def _layer_members(layers, i: int) -> dict[str, Any]:
    weight, bias = layers[i]
    members: dict[str, Any] = {}
    _put(members, f"layer{i}.weight", weight)
    members[f"layer{i}.bias"] = np.asarray(bias, dtype=DTYPE)
    return members


def _put(arrays: dict[str, Any], name: str, matrix: Matrix) -> None:
    """The members of ``matrix``: CSR as data, int64 indices and indptr (converted piece by
    piece as they are written) and shape; a dense matrix as one float32 array."""
    if sp.issparse(matrix):
        csr = sp.csr_matrix(matrix, dtype=DTYPE)
        arrays[f"{name}.data"] = _Pieces(csr.data, np.dtype(DTYPE))
        arrays[f"{name}.indices"] = _Pieces(csr.indices, np.dtype(np.int64))
        arrays[f"{name}.indptr"] = _Pieces(csr.indptr, np.dtype(np.int64))
        arrays[f"{name}.shape"] = np.asarray(csr.shape, dtype=np.int64)
    else:
        arrays[name] = np.ascontiguousarray(matrix, dtype=DTYPE)


def write_npz_atomic(path: str | os.PathLike, arrays: dict[str, Any]) -> None:
    """Write arrays as an npz that is identical byte for byte for identical arrays (a value
    may be a function returning the array, called when its member is written, or a
    :class:`_Members` that makes several).

    ``numpy.savez`` stamps the current time into the zip; here every member gets a fixed
    timestamp. The file appears under its name only once complete (see fileio.atomic_write).
    Large members are compressed piece by piece (deflate's output does not depend on how its
    input is split), so no second copy of an array is made.
    """

    def write(handle) -> None:
        with zipfile.ZipFile(handle, "w", zipfile.ZIP_DEFLATED) as zf:
            for name, array in _flat(arrays):
                info = zipfile.ZipInfo(f"{name}.npy", date_time=(1980, 1, 1, 0, 0, 0))
                info.compress_type = zipfile.ZIP_DEFLATED
                info.external_attr = 0o644 << 16
                if callable(array):
                    array = array()
                if not isinstance(array, _Pieces):
                    buffer = io.BytesIO()
                    np.lib.format.write_array(buffer, np.asanyarray(array), allow_pickle=False)
                    zf.writestr(info, buffer.getbuffer(), compresslevel=COMPRESS_LEVEL)
                    del buffer
                    continue
                header = array.header()
                # what writestr does with the whole bytes: size known before the header
                info.file_size = len(header) + array.nbytes
                info._compresslevel = COMPRESS_LEVEL
                with zf.open(info, mode="w") as member:
                    member.write(header)
                    for chunk in array.chunks():
                        member.write(chunk.data)
                del array

    atomic_write(path, write)


def _flat(arrays: dict[str, Any]):
    """(member name, value) in order, each _Members expanded when reached."""
    for name, value in arrays.items():
        if isinstance(value, _Members):
            yield from value.make().items()
        else:
            yield name, value


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


class FileLayers(LazyLayers):
    """The hidden layers of a weights file, each read (and validated as :meth:`Network.load`
    validates it) when asked for and not kept: ``Network.load(path, stream=True)``."""

    def __init__(self, path: Path, shapes: list[tuple[int, int]]) -> None:
        self.path = path
        self.shapes = shapes

    def _layer(self, i: int) -> tuple:
        rows, cols = self.shapes[i]
        reader = _Reader(self.path)
        with reader.npz:
            weight = reader.matrix(f"layer{i}.weight", rows, cols)
            return weight, reader.vector(f"layer{i}.bias", rows)


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


def _load(path: Path, stream: bool = False) -> Network:
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
        layers: list | FileLayers = []
        shapes = []
        i = 0
        while any(f"layer{i}.{part}" in reader.names for part in _LAYER_PARTS):
            # validated now either way (the same refusals); a streamed layer is then let go
            weight = reader.matrix(f"layer{i}.weight", cols=width)
            rows = weight.shape[0]
            layer = (weight, reader.vector(f"layer{i}.bias", rows))
            del weight
            if not stream:
                layers.append(layer)
            del layer
            shapes.append((rows, width))
            width = rows
            i += 1
        if stream:
            layers = FileLayers(path, shapes)
        sizes = meta.get("layer_sizes")
        if isinstance(sizes, list) and sizes != [rows for rows, _ in shapes]:
            raise reader.fail(
                f"meta 'layer_sizes' says {len(sizes)} layers of {sizes}, the arrays hold "
                f"{[rows for rows, _ in shapes]}"
            )
        readout = reader.matrix("readout.weight", rows=len(outputs), cols=width)
        readout_bias = reader.vector("readout.bias", len(outputs))
        features = []
        widths = [embed.shape[0], *(rows for rows, _ in shapes)]
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
