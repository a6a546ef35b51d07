"""Width search: the smallest superposed width whose *verified* error meets a target.

The error model (codegen/design.py) predicts, but only verify decides, so the search compiles
and verifies: it doubles the width until the target is met, then bisects between the last
failing and the first passing width to a relative precision. Errors are not perfectly monotone
in the width (different widths are different random draws), so the result is the smallest
passing width found, and every probe is returned for the record.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass

from circuit2mlp.compiler import CompileConfig, compile_circuit
from circuit2mlp.ir import Circuit
from circuit2mlp.network import Network
from circuit2mlp.verify import VerifyReport, verify


@dataclass(frozen=True)
class Probe:
    """One compile + verify at a width."""

    width: int
    neurons: int
    bit_error_rate: float
    sample_error_rate: float
    passed: bool


def measure(
    circuit: Circuit, config: CompileConfig, samples: int, seed: int = 0
) -> tuple[Network, VerifyReport]:
    """Compile with ``config`` and verify on ``samples`` inputs per sparsity level."""
    network, _ = compile_circuit(circuit, config)
    report = verify(circuit, network, samples=samples, sparsity=config.sparsity, seed=seed)
    return network, report


def smallest_width(
    circuit: Circuit,
    config: CompileConfig,
    *,
    max_bit_error_rate: float | None = None,
    max_sample_error_rate: float | None = None,
    samples: int = 2000,
    start: int = 64,
    limit: int = 1 << 20,
    precision: float = 0.05,
    progress: Callable[[Probe], None] | None = None,
) -> tuple[Probe | None, list[Probe]]:
    """(smallest passing probe or None, all probes) for the error targets given."""

    def ok(report: VerifyReport) -> bool:
        bits = max_bit_error_rate is None or report.overall.bit_error_rate <= max_bit_error_rate
        rows = (
            max_sample_error_rate is None
            or report.worst_k.sample_error_rate <= max_sample_error_rate
        )
        return bits and rows

    probes: list[Probe] = []

    def probe(width: int) -> Probe:
        network, report = measure(circuit, dataclasses.replace(config, width=width), samples)
        result = Probe(
            width,
            network.neurons,
            report.overall.bit_error_rate,
            report.overall.sample_error_rate,
            ok(report),
        )
        probes.append(result)
        if progress:
            progress(result)
        return result

    low, high = 0, None
    width = start
    while width <= limit:
        result = probe(width)
        if result.passed:
            high = result
            break
        low = width
        width *= 2
    if high is None:
        return None, probes
    while high.width - low > max(1, precision * high.width):
        mid = (low + high.width) // 2
        result = probe(mid)
        if result.passed:
            high = result
        else:
            low = mid
    return high, probes
