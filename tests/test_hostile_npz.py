"""Hostile weights files: every one is refused by Network.load with a NetworkFileError (and by
``circuit2mlp verify`` with one line and exit status 2), never with a crash, a pickle load or a
large allocation. tests/test_network.py has the first few cases; this file covers the rest:
every member removed in turn, every float array poisoned, every CSR invariant broken, lying
zip directories, foreign compressions, hostile meta values and code-running pickles.
"""

from __future__ import annotations

import contextlib
import io
import pathlib
import struct
import tracemalloc
import zipfile
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import scipy.sparse as sp

from circuit2mlp.cli import main
from circuit2mlp.compiler import CompileConfig, compile_circuit
from circuit2mlp.errors import NetworkFileError
from circuit2mlp.formats import load_circuit
from circuit2mlp.network import Network

REPO = Path(__file__).resolve().parents[1]
FULL_ADDER = REPO / "circuits/handwritten/full_adder.yaml"
Arrays = dict[str, np.ndarray]


@pytest.fixture(scope="module")
def base(tmp_path_factory) -> Arrays:
    """The arrays of a real weights file, with layer0 stored as CSR so both matrix kinds are
    present."""
    network = compile_circuit(load_circuit(FULL_ADDER), CompileConfig(method="exact"))[0]
    network.layers[0] = (sp.csr_matrix(network.layers[0][0]), network.layers[0][1])
    path = tmp_path_factory.mktemp("base") / "w.npz"
    network.save(path)
    with np.load(path, allow_pickle=False) as z:
        return {k: z[k] for k in z.files}


def npz_bytes(arrays: Arrays) -> bytes:
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    return buffer.getvalue()


def zip_of(members: dict[str, bytes], compression: int = zipfile.ZIP_STORED) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression) as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    return buffer.getvalue()


def npy(array: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    np.lib.format.write_array(buffer, array, allow_pickle=False)
    return buffer.getvalue()


def npy_header(shape: tuple[int, ...], descr: str = "<f4") -> bytes:
    buffer = io.BytesIO()
    header = {"descr": descr, "fortran_order": False, "shape": shape}
    np.lib.format.write_array_header_1_0(buffer, header)
    return buffer.getvalue()


def members_of(arrays: Arrays) -> dict[str, bytes]:
    return {f"{k}.npy": npy(v) for k, v in arrays.items()}


def refused(tmp_path: Path, data: bytes, phrase: str = "") -> str:
    """Write ``data``, check Network.load refuses it (message contains ``phrase``) and that
    verify exits 2 with exactly that one line. Returns the message."""
    path = tmp_path / "hostile.npz"
    path.write_bytes(data)
    with pytest.raises(NetworkFileError) as info:
        Network.load(path)
    message = str(info.value)
    assert "\n" not in message and str(path) in message
    assert phrase.lower() in message.lower(), message
    code, err = verify(path)
    assert code == 2 and err.strip() == message, err
    return message


def verify(*paths: Path) -> tuple[int, str]:
    err = io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
        try:
            main(["verify", *map(str, paths), "-q", "--samples", "20"])
            code = 0
        except SystemExit as exc:
            code = exc.code
    assert "Traceback" not in err.getvalue()
    return code, err.getvalue()


def changed(arrays: Arrays, **updates: np.ndarray | None) -> Arrays:
    """A copy with members replaced (names use __ for dots) or removed (None)."""
    out = dict(arrays)
    for key, value in updates.items():
        name = key.replace("__", ".")
        if value is None:
            out.pop(name)
        else:
            out[name] = value
    return out


def test_base_file_loads_and_verifies(tmp_path, base):
    """The unmodified arrays pass, so each refusal below is down to its one change."""
    path = tmp_path / "ok.npz"
    path.write_bytes(npz_bytes(base))
    assert Network.load(path).output_names == ("sum", "cout")
    assert verify(path)[0] == 0


# ---------------------------------------------------------------------- pickles


class _Payload:
    """Unpickling this touches a marker file: proof of code execution, if it ever ran."""

    marker: Path

    def __reduce__(self):
        return (pathlib.Path.touch, (self.marker,))


@pytest.mark.parametrize("member", ["format", "meta", "embed", "layer1.weight", "input_names"])
def test_pickled_object_array_never_unpickled(tmp_path, base, member):
    """An object array holding a code-running pickle, in place of any member: refused by its
    header, and the payload never runs. (np.save with allow_pickle=True only to build it.)"""
    payload = _Payload()
    payload.marker = tmp_path / "pwned"
    buffer = io.BytesIO()
    np.save(buffer, np.array([payload], dtype=object), allow_pickle=True)
    members = members_of(base)
    members[f"{member}.npy"] = buffer.getvalue()
    refused(tmp_path, zip_of(members), "Python objects")
    assert not payload.marker.exists()


def test_raw_pickle_file_never_unpickled(tmp_path):
    """A bare pickle (np.load would try to unpickle anything that is not zip or .npy)."""
    import pickle

    payload = _Payload()
    payload.marker = tmp_path / "pwned"
    refused(tmp_path, pickle.dumps(payload), "not an npz archive")
    assert not payload.marker.exists()


def test_bare_npy_with_huge_shape(tmp_path):
    """A .npy instead of an npz: np.load would allocate its declared shape. Refused by magic."""
    refused(tmp_path, npy_header((10**12,)), "not an npz archive")


# ------------------------------------------------------------------------- format tag


@pytest.mark.parametrize(
    "value",
    [np.array("circuit2mlp/3"), np.array(["circuit2mlp/2"]), np.array(b"circuit2mlp/2"), None],
    ids=["other-version", "1d", "bytes", "missing"],
)
def test_format_tag(tmp_path, base, value):
    refused(tmp_path, npz_bytes(changed(base, format=value)), "format")


# ------------------------------------------------------------------------ missing arrays

OPTIONAL = ("features",)  # feature read-offs are optional, level by level


def test_every_required_member_is_required(tmp_path, base):
    """Remove each member in turn: required ones are refused naming what is missing, feature
    read-offs (optional) still load."""
    for name in sorted(base):
        data = npz_bytes(changed(base, **{name.replace(".", "__"): None}))
        if name.startswith(OPTIONAL) and (name.endswith((".names", ".bias"))):
            path = tmp_path / "partial.npz"
            path.write_bytes(data)
            Network.load(path)  # fewer levels of features, or zero bias: still valid
            continue
        message = refused(tmp_path, data)
        missing = name.removesuffix(".shape")  # without .shape a CSR is looked for as dense
        assert f"missing array '{missing}'" in message, (name, message)


def test_whole_last_layer_removed(tmp_path, base):
    """Dropping a layer's weight and bias together leaves arrays that still chain (here the
    last two widths are equal), so only meta's layer sizes can tell."""
    fewer = changed(base, layer2__weight=None, layer2__bias=None)
    fewer["readout.weight"] = np.zeros((2, 4), np.float32)
    refused(tmp_path, npz_bytes(fewer), "layer_sizes")


# ---------------------------------------------------------------------- shapes


@pytest.mark.parametrize(
    ("change", "phrase"),
    [
        ({"embed": np.zeros((3, 2), np.float32)}, "embed"),  # not one column per input
        ({"layer1__weight": np.zeros((4, 5), np.float32)}, "layer1.weight"),  # does not chain
        ({"layer2__bias": np.zeros(3, np.float32)}, "layer2.bias"),
        ({"readout__weight": np.zeros((2, 3), np.float32)}, "readout.weight"),
        ({"readout__bias": np.zeros(1, np.float32)}, "readout.bias"),
        ({"output_names": np.array(["sum"])}, "readout.weight"),
        ({"embed": np.zeros((3, 3, 1), np.float32)}, "2-d"),
        ({"layer1__bias": np.zeros((4, 1), np.float32)}, "layer1.bias"),
        ({"layer1__weight": np.zeros((4, 4), np.int32)}, "float"),
        ({"features1__names": np.array(["a", "b"])}, "features1.readout"),
        ({"features2__bias": np.zeros(7, np.float32)}, "features2.bias"),
    ],
)
def test_shapes_that_do_not_chain(tmp_path, base, change, phrase):
    refused(tmp_path, npz_bytes(changed(base, **change)), phrase)


# ---------------------------------------------------------------- circuit map (/2)


def _shifted(base: Arrays, name: str, delta: int) -> np.ndarray:
    array = base[name].copy()
    array[-1] += delta
    return array


@pytest.mark.parametrize(
    ("change", "phrase"),
    [
        (lambda b: {"layered__fanin": _shifted(b, "layered.fanin", 1000)}, "layered.fanin"),
        (lambda b: {"layered__fanin_ptr": _shifted(b, "layered.fanin_ptr", 1)}, "fanin_ptr"),
        (lambda b: {"layered__ops": np.full_like(b["layered.ops"], "EVAL")}, "unknown op"),
        (lambda b: {"layered__ops": np.array(["CONST1"] * b["layered.ops"].size)}, "fan-in"),
        (lambda b: {"layered__kinds": np.full_like(b["layered.kinds"], "magic")}, "kind"),
        (lambda b: {"layered__widths": b["layered.widths"] + 1}, "layered"),
        (lambda b: {"layered__outputs": b["layered.outputs"] + 99}, "layered.outputs"),
        (lambda b: {"layered__names": np.full_like(b["layered.names"], "x")}, "repeats"),
        (lambda b: {"layered__negated": ~b["layered.negated"]}, "negates"),
        (lambda b: {"layered__fanin": b["layered.fanin"].astype(np.float32)}, "integer"),
        (lambda b: {"wires1__feature": b["wires1.feature"] + 99}, "wires1.feature"),
        (lambda b: {"wires__circuit_level": b["wires.circuit_level"][::-1]}, "circuit_level"),
        (lambda b: {"wires__circuit_level": b["wires.circuit_level"] + 9}, "circuit_level"),
        (lambda b: {"wires2__feature": b["wires2.feature"][:-1]}, "wires2.feature"),
    ],
    ids=lambda v: v if isinstance(v, str) else "",
)
def test_hostile_circuit_map(tmp_path, base, change, phrase):
    """The layered circuit the tools simulate is checked like the weights: every index in
    range, ops known with their fan-in, one line naming the array."""
    refused(tmp_path, npz_bytes(changed(base, **change(base))), phrase)


def test_circuit_map_round_trips(tmp_path, base):
    """The loaded map rebuilds the layered circuit the compiler lowered (same gates, same
    output wires), so the tools need not lower the circuit again."""
    from circuit2mlp.compiler import lower

    path = tmp_path / "ok.npz"
    path.write_bytes(npz_bytes(base))
    network = Network.load(path)
    circuit = load_circuit(FULL_ADDER)
    want = lower(circuit, CompileConfig(method="exact"))
    got = network.circuit_map.layered(want.name, network.output_names)
    assert got.layers == want.layers
    assert got.output_signals == want.output_signals


# ------------------------------------------------------------------------ NaN / inf

FLOAT_MEMBERS = [
    "embed",
    "layer0.weight.data",
    "layer0.bias",
    "layer1.weight",
    "readout.weight",
    "readout.bias",
    "features1.readout.data",
    "features3.bias",
]


@pytest.mark.parametrize("member", FLOAT_MEMBERS)
@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_nan_and_inf(tmp_path, base, member, bad):
    array = base[member].copy()
    array.flat[0] = bad
    refused(tmp_path, npz_bytes(changed(base, **{member.replace(".", "__"): array})), "NaN")


# ------------------------------------------------------------------------------- CSR


def _csr(base: Arrays, part: str, value) -> Arrays:
    return changed(base, **{f"layer0__weight__{part}": np.asarray(value)})


CSR_BREAKS: dict[str, Callable[[Arrays], Arrays]] = {
    "indptr-not-from-0": lambda b: _csr(b, "indptr", b["layer0.weight.indptr"] + 1),
    "indptr-decreasing": lambda b: _csr(b, "indptr", b["layer0.weight.indptr"][[0, 3, 1, 2, 4]]),
    "indptr-short": lambda b: _csr(b, "indptr", b["layer0.weight.indptr"][:-1]),
    "indptr-past-data": lambda b: _csr(
        b, "indptr", np.append(b["layer0.weight.indptr"][:-1], 10**9)
    ),
    "index-out-of-range": lambda b: _csr(b, "indices", np.full_like(b["layer0.weight.indices"], 3)),
    "negative-index": lambda b: _csr(b, "indices", -b["layer0.weight.indices"] - 1),
    "data-shorter": lambda b: _csr(b, "data", b["layer0.weight.data"][:-1]),
    "data-2d": lambda b: _csr(b, "data", b["layer0.weight.data"][:, None]),
    "float-indices": lambda b: _csr(b, "indices", b["layer0.weight.indices"].astype(float)),
    "shape-3-values": lambda b: _csr(b, "shape", [4, 3, 1]),
    "shape-negative": lambda b: _csr(b, "shape", [-4, 3]),
    "shape-float": lambda b: _csr(b, "shape", [4.0, 3.0]),
    "shape-huge": lambda b: _csr(b, "shape", [2**40, 3]),
    "shape-disagrees": lambda b: _csr(b, "shape", [4, 2]),
}


@pytest.mark.parametrize("case", sorted(CSR_BREAKS))
def test_inconsistent_csr(tmp_path, base, case):
    message = refused(tmp_path, npz_bytes(CSR_BREAKS[case](base)))
    assert "layer0.weight" in message


# -------------------------------------------------------------------------- meta


@pytest.mark.parametrize(
    ("meta", "phrase"),
    [
        ("[1, 2]", "JSON object"),
        ("{nope", "JSON"),
        ("1" * 5000, "JSON"),  # over Python's int-from-text digit limit: ValueError
        ("[" * 100_000 + "]" * 100_000, "JSON"),  # RecursionError in the decoder
        ('{"sparsity": "3"}', "sparsity"),
        ('{"sparsity": 1000000000}', "sparsity"),
        ('{"sparsity": true}', "sparsity"),
        ('{"seed": -1}', "seed"),
        ('{"gates": 1.5}', "gates"),
        ('{"source_sha256": 7}', "source_sha256"),
        ('{"method": ["exact"]}', "method"),
        ('{"layer_sizes": "4,4,2"}', "layer_sizes"),
    ],
)
def test_hostile_meta(tmp_path, base, meta, phrase):
    refused(tmp_path, npz_bytes(changed(base, meta=np.array(meta))), phrase)


def test_embedded_circuit_with_lone_surrogate(tmp_path, base):
    """The circuit text comes back from a numpy string array, which can hold a lone surrogate:
    verify (which parses it) must refuse it cleanly."""
    text = str(base["circuit"]).replace("cin", "c\udc80n", 1)
    path = tmp_path / "w.npz"
    path.write_bytes(npz_bytes(changed(base, circuit=np.array(text))))
    code, err = verify(path)
    assert code == 2 and "surrogate" in err and len(err.strip().splitlines()) == 1


def test_embedded_circuit_that_does_not_match(tmp_path, base):
    text = str(base["circuit"]).replace("outputs: [sum, cout]", "outputs: [cout, sum]")
    assert text != str(base["circuit"])
    path = tmp_path / "w.npz"
    path.write_bytes(npz_bytes(changed(base, circuit=np.array(text))))
    code, err = verify(path)
    assert code == 2 and "do not match" in err


# ------------------------------------------------------------- circuit hash mismatch


def test_verify_with_a_different_circuit(tmp_path):
    """verify CIRCUIT WEIGHTS where CIRCUIT is not the file WEIGHTS came from: even a
    same-function copy differing by one comment byte is a different source (sha256)."""
    weights = tmp_path / "fa.npz"
    err = io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
        main(["compile", str(FULL_ADDER), "-o", str(weights), "-q", "--method", "exact"])
    other = tmp_path / "full_adder_copy.yaml"
    other.write_bytes(FULL_ADDER.read_bytes() + b"# edited\n")
    code, err_text = verify(other, weights)
    assert code == 2
    (line,) = err_text.strip().splitlines()
    assert str(weights) in line and str(other) in line and "sha256" in line
    assert verify(FULL_ADDER, weights)[0] == 0  # the right circuit passes


# ------------------------------------------------------------- zip-level corruption


def test_huge_declared_shapes_refused_before_allocation(tmp_path, base):
    """Declared shapes far beyond the data present, in several disguises, are refused from the
    header, and loading never allocates more than a few MB (tracemalloc sees numpy's
    buffers). 3e8 float32 = 1.2 GB is small enough that numpy would really allocate it."""
    cases = {
        "10^12 elements": npy_header((10**12,)),
        "10^6 x 10^6 matrix": npy_header((10**6, 10**6)),
        "1.2 GB vector": npy_header((300_000_000,)),
        "huge item size": npy_header((), "<U100000000"),
        "zero item size": npy_header((2**33,), "V0"),
    }
    for name, header in cases.items():
        members = members_of(base)
        members["embed.npy"] = header + b"\0" * 4096
        tracemalloc.start()
        try:
            message = refused(tmp_path, zip_of(members, zipfile.ZIP_DEFLATED), "larger than")
            peak = tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()
        assert "embed" in message, name
        assert peak < 64 * 2**20, (name, peak)


def _patch_sizes(data: bytes, member: str, file_size: int | None, compress_size: int | None):
    """Rewrite the central directory entry of ``member`` to state other sizes (a lie)."""
    out = bytearray(data)
    start = 0
    while (start := out.find(b"PK\x01\x02", start)) != -1:
        name_len = struct.unpack_from("<H", out, start + 28)[0]
        if out[start + 46 : start + 46 + name_len] == member.encode():
            if compress_size is not None:
                struct.pack_into("<I", out, start + 20, compress_size)
            if file_size is not None:
                struct.pack_into("<I", out, start + 24, file_size)
        start += 4
    return bytes(out)


@pytest.mark.parametrize("lie", ["file_size", "compress_size", "both"])
def test_zip_directory_lying_about_sizes(tmp_path, base, lie):
    """The zip directory claims the member is big enough for its (huge) declared shape: the
    bound also uses what deflate can expand the stored bytes to, and the archive's real size."""
    members = members_of(base)
    members["embed.npy"] = npy_header((10**9,)) + b"\0" * 4096
    data = zip_of(members, zipfile.ZIP_DEFLATED)
    big = 0xFFFFFFF0
    data = _patch_sizes(
        data,
        "embed.npy",
        big if lie in ("file_size", "both") else None,
        big if lie in ("compress_size", "both") else None,
    )
    path = tmp_path / "hostile.npz"
    path.write_bytes(data)
    with pytest.raises(NetworkFileError):
        Network.load(path)


def test_zip_corruptions(tmp_path, base):
    """Damage at the zip level: each one a clean NetworkFileError naming the file."""
    good = zip_of(members_of(base), zipfile.ZIP_DEFLATED)
    local = good.index(b"PK\x03\x04", 10)  # the second member's local header
    central = good.index(b"PK\x01\x02")
    cases = {
        "truncated": good[: len(good) // 2],
        "empty zip": zip_of({}),
        "corrupt deflate stream": good[: local + 60] + bytes(40) + good[local + 100 :],
        "unknown compression": good[:central] + _set_method(good[central:], 99),
        "encrypted flag": good[:central] + _set_flag(good[central:], 0x1),
        "strong encryption flag": good[:central] + _set_flag(good[central:], 0x41),
        "patched-data flag": good[:central] + _set_flag(good[central:], 0x20),
        "npy version 3.0": zip_of({**members_of(base), "embed.npy": b"\x93NUMPY\x03\x00" * 4}),
        "npy header garbage": zip_of(
            {**members_of(base), "embed.npy": b"\x93NUMPY\x01\x00\x10\x00{'descr': ((((((  \n"}
        ),
        "zip64 version": good[:central] + _set_version(good[central:], 0x7F),
    }
    for name, data in cases.items():
        path = tmp_path / "hostile.npz"
        path.write_bytes(data)
        with pytest.raises(NetworkFileError) as info:
            Network.load(path)
        assert str(path) in str(info.value) and "\n" not in str(info.value), name


def _set_method(central: bytes, method: int) -> bytes:
    out = bytearray(central)
    struct.pack_into("<H", out, 10, method)
    return bytes(out)


def _set_flag(central: bytes, flag: int) -> bytes:
    out = bytearray(central)
    struct.pack_into("<H", out, 8, flag)
    return bytes(out)


def _set_version(central: bytes, version: int) -> bytes:
    out = bytearray(central)
    struct.pack_into("<H", out, 6, version)  # version needed to extract
    return bytes(out)
