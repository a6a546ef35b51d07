"""The planner registry: method name -> planner, the one place a method name is looked up.

A planner is a function ``planner(layered, config, progress) -> Plan`` (plan.py): it makes
every decision of its construction and nothing else; the emitter (emit.py) builds the weights
of any plan. A new construction is a module here with a ``plan`` function and a ``HELP`` line, one
entry in :data:`BUILTIN` (and its tests); code outside the package (a test's toy planner, a
plugin) calls :func:`register` instead. The CLI's ``--method`` choices and
``CompileConfig.check`` read :func:`methods`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from circuit2mlp.codegen.plan import Plan
from circuit2mlp.ir import LayeredCircuit

#: ``planner(layered, config, progress)``; ``progress(text)`` hears about each step.
Planner = Callable[[LayeredCircuit, Any, Callable[[str], None]], Plan]

_PLANNERS: dict[str, Planner] = {}
_HELP: dict[str, str] = {}


def register(name: str, planner: Planner, help: str = "") -> Planner:
    """Make ``planner`` the construction of ``--method name``, after the built-in ones.
    Registering a name again replaces its planner."""
    if name not in BUILTIN:
        _load_builtin()
    _PLANNERS[name] = planner
    _HELP[name] = help
    return planner


def unregister(name: str) -> None:
    """Remove a method (tests that register a toy planner clean up with this)."""
    _PLANNERS.pop(name, None)
    _HELP.pop(name, None)


def planner_for(name: str) -> Planner:
    """The planner of a method (KeyError for an unknown name; CompileConfig.check says so
    to the user first)."""
    _load_builtin()
    return _PLANNERS[name]


def methods() -> tuple[str, ...]:
    """Registered method names, the default first."""
    _load_builtin()
    return tuple(_PLANNERS)


def method_help(name: str) -> str:
    """One line on what a method builds."""
    _load_builtin()
    return _HELP.get(name, "")


#: Built-in methods, in the order of ``--method``'s choices (the first is the default): each
#: is the module ``circuit2mlp.codegen.planners.<name>`` with ``plan`` and ``HELP``.
BUILTIN = ("superposed", "paper", "exact", "deep", "dense")

_loaded = False


def _load_builtin() -> None:
    """Register the built-in planners once, before any registered from outside."""
    global _loaded
    if _loaded:
        return
    _loaded = True
    import importlib

    for name in BUILTIN:
        module = importlib.import_module(f"circuit2mlp.codegen.planners.{name}")
        register(name, module.plan, module.HELP)
