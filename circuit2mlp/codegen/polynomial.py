"""Every gate as a sum of ANDs: the multilinear polynomial of a gate in its stored features.

A boolean function of k inputs is exactly one multilinear polynomial, ``sum_S c_S prod_{i in S}
u_i`` (its Möbius transform). Codegen works on stored (sparse-polarity) values, so the
polynomial is taken in those: an input stored negated enters as ``1 - u``, an output stored
negated is ``1 - value``. Examples in plain polarity: OR(a,b) = a + b - ab, XOR(a,b) = a + b -
2ab, AND(a, NOT b) = a - ab. The constant term becomes a read-off bias, degree-1 terms are
carried features, and each monomial of degree >= 2 is an AND computed in superposition.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import lru_cache

from circuit2mlp.ir import op_profile

#: Monomials as sorted tuples of fan-in positions; () is the constant term.
Polynomial = dict[tuple[int, ...], int]


def mobius(truth: Sequence[int], k: int) -> Polynomial:
    """Coefficients c_S of the multilinear polynomial with the given truth table.

    ``truth[r]`` is the value when input i is bit i of r. Zero coefficients are dropped.
    """
    coef = list(truth)
    for i in range(k):
        bit = 1 << i
        for r in range(1 << k):
            if r & bit:
                coef[r] -= coef[r ^ bit]
    poly: Polynomial = {}
    for r, c in enumerate(coef):
        if c:
            poly[tuple(i for i in range(k) if r >> i & 1)] = c
    return poly


@lru_cache(maxsize=4096)
def gate_polynomial(
    op: str, flips_in: tuple[bool, ...], flip_out: bool
) -> tuple[tuple[tuple[int, ...], int], ...]:
    """The polynomial of a symmetric gate over its stored inputs, giving its stored output.

    Returned as a tuple of (monomial, coefficient) pairs, sorted, so it can be cached.
    """
    k = len(flips_in)
    profile = op_profile(op, k)
    truth = []
    for r in range(1 << k):
        ones = sum((r >> i & 1) ^ flips_in[i] for i in range(k))
        truth.append(profile[ones] ^ int(flip_out))
    return tuple(sorted(mobius(truth, k).items()))


def coefficient_mass(poly: Sequence[tuple[tuple[int, ...], int]]) -> int:
    """Sum of |c_S| over non-constant monomials: read-off errors scale with it."""
    return sum(abs(c) for mono, c in poly if mono)
