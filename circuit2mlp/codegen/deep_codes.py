"""Slot codes of the ``deep`` method: which q slots of a pool each item owns.

An inactive item's read-off is the share of its slots that fire because an *active* item
shares them, so what matters is how many slots two items share. Two constructions:

* ``field`` (default): the pool is q blocks of P slots, P prime; item i owns the slots
  (j, a_i + b_i j mod P) for j < q, a line over GF(P). Two distinct lines meet in at most one
  block, so one active item can put at most 1/q on another's read-off. Lines are taken in the
  order (a, b) = (i mod P, i div P) after shuffling the items, which loads every slot of a
  block equally (within one); slot labels are shuffled per block. Needs n <= P^2.
* ``random``: concatenated random permutations of the slots, q consecutive ones per item
  (redrawn where an item would get a slot twice): equal loads, overlaps unbounded.

Both return an (n, q) int64 array of slot indices in ``[0, slots)``.
"""

from __future__ import annotations

import numpy as np


def largest_prime_at_most(n: int) -> int:
    """The largest prime <= n (n >= 2)."""
    for p in range(n, 1, -1):
        if all(p % d for d in range(2, int(p**0.5) + 1)):
            return p
    return 2


def field_slots(q: int, slots: int) -> int:
    """Slots a field code actually uses when given ``slots``: q times the largest prime block
    size that fits."""
    return q * largest_prime_at_most(max(2, slots // q))


def field_code(n: int, q: int, slots: int, rng: np.random.Generator) -> np.ndarray | None:
    """Field code (see module doc) on ``field_slots(q, slots)`` slots, or None when the pool
    is too small for n lines (n > P^2) or a block would be smaller than q."""
    p = largest_prime_at_most(max(2, slots // q))
    if p < q or n > p * p:
        return None
    order = rng.permutation(n)
    a = order % p
    b = order // p
    j = np.arange(q)
    shift = rng.integers(0, p, size=q)
    relabel = np.argsort(rng.random((q, p)), axis=1)  # a random permutation per block
    pos = (a[:, None] + b[:, None] * j[None, :] + shift[None, :]) % p
    return (j[None, :] * p + relabel[j[None, :], pos]).astype(np.int64)


def random_code(n: int, q: int, slots: int, rng: np.random.Generator) -> np.ndarray:
    """Balanced random code: every slot used n q / slots times (within one)."""
    if q > slots:
        raise ValueError(f"{q} slots per item need at least {q} slots, got {slots}")
    total = n * q
    rounds = -(-total // slots)
    sequence = np.concatenate([rng.permutation(slots) for _ in range(rounds)])[:total]
    code = sequence.reshape(n, q)
    for _ in range(100):
        ordered = np.sort(code, axis=1)
        bad = np.flatnonzero((ordered[:, 1:] == ordered[:, :-1]).any(axis=1))
        if bad.size == 0:
            break
        for r in bad.tolist():
            code[r] = rng.choice(slots, size=q, replace=False)
    return code.astype(np.int64)


def make_code(
    n: int, q: int, slots: int, rng: np.random.Generator, kind: str = "field"
) -> tuple[np.ndarray, int]:
    """(code, slots used): a ``kind`` code for n items of q slots each on at most ``slots``
    slots (field codes fall back to random ones when they do not fit)."""
    if kind == "field":
        code = field_code(n, q, slots, rng)
        if code is not None:
            return code, field_slots(q, slots)
    return random_code(n, q, slots, rng), slots
