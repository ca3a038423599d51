"""The Python-level layer inside the sandbox child: a small builtins set and a guarded import.

This layer gives clear errors for honest mistakes; it is not the wall (the kernel
layers in ``confine`` are). It runs only in the sandbox child.
"""

from __future__ import annotations

import builtins
import importlib
from typing import Any

from quantq.finance.strategy import contract

SAFE_BUILTINS = (
    "abs", "all", "any", "ascii", "bin", "bool", "bytearray", "bytes", "callable", "chr", "complex", "dict",
    "divmod", "enumerate", "filter", "float", "frozenset", "hash", "hex", "int", "isinstance",
    "issubclass", "iter", "len", "list", "map", "max", "min", "next", "oct", "ord", "pow", "print",
    "range", "repr", "reversed", "round", "set", "slice", "sorted", "str", "sum", "tuple", "zip",
    "True", "False", "None", "NotImplemented", "Ellipsis",
    "ArithmeticError", "AssertionError", "AttributeError", "Exception", "FloatingPointError",
    "IndexError", "KeyError", "LookupError", "NameError", "OverflowError", "RuntimeError",
    "StopIteration", "TypeError", "ValueError", "ZeroDivisionError",
)


class StrategyImportError(ImportError):
    """A strategy imported a module outside the documented list."""


def _guarded_import(name: str, globals: Any = None, locals: Any = None, fromlist: Any = (), level: int = 0) -> Any:
    if level:
        raise StrategyImportError("relative imports are not allowed in strategies")
    subs = [f"{name}.{f}" for f in (fromlist or ())]
    if name not in contract.ALLOWED_MODULES and (not subs or any(s not in contract.ALLOWED_MODULES for s in subs)):
        raise StrategyImportError(f"import of {name!r} is not allowed in strategies")
    wanted = [name] + [s for s in subs if s in contract.ALLOWED_MODULES]
    for mod in wanted:
        if mod in contract.ALLOWED_MODULES:
            importlib.import_module(mod)
    return builtins.__import__(name, globals, locals, fromlist, 0)


def _safe_getattr(obj: Any, name: str, *default: Any) -> Any:
    if not isinstance(name, str) or name.startswith("_"):
        raise AttributeError(f"getattr of {name!r} is not allowed in strategies")
    return getattr(obj, name, *default)


def _safe_hasattr(obj: Any, name: str) -> bool:
    if not isinstance(name, str) or name.startswith("_"):
        raise AttributeError(f"hasattr of {name!r} is not allowed in strategies")
    return hasattr(obj, name)


def restricted_builtins() -> dict[str, Any]:
    table = {name: getattr(builtins, name) for name in SAFE_BUILTINS}
    table["__import__"] = _guarded_import
    table["getattr"] = _safe_getattr
    table["hasattr"] = _safe_hasattr
    return table


def open_builtins() -> dict[str, Any]:
    """The full builtins (sabotage tests only: proves the other layers hold on their own)."""
    return dict(vars(builtins))
