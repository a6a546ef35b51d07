"""What more than one planner needs."""

from __future__ import annotations

import dataclasses

import numpy as np

from circuit2mlp.codegen.activity import LevelActivity


def unflipped(level: LevelActivity) -> LevelActivity:
    """The level with every wire stored in its true polarity (frequencies turned with it):
    outputs are read that way, and the noise model counts true values."""
    freq = np.where(level.flip, 1 - level.frequency, level.frequency)
    return dataclasses.replace(level, flip=np.zeros_like(level.flip), frequency=freq)
