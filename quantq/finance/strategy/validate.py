"""Static checks of strategy source (AST) before anything runs.

Validation is a courtesy that gives early, precise errors (line and rule); the sandbox
is the wall and holds even when these checks are bypassed.
"""

from __future__ import annotations

import ast
import dataclasses
import re

from quantq.finance.strategy import contract

# Builtins that reach code execution, the file system, the interpreter or object internals.
FORBIDDEN_NAMES = frozenset(
    {
        "exec", "eval", "compile", "open", "__import__", "globals", "locals", "vars", "breakpoint",
        "input", "help", "exit", "quit", "setattr", "delattr", "memoryview", "type", "object",
        "super", "classmethod", "staticmethod", "property", "dir", "id", "__builtins__",
        "__loader__", "__spec__",
    }
)
# Attribute names that read or write files, evaluate strings, or walk frames and code objects.
FORBIDDEN_ATTRS = frozenset(
    {
        "eval", "query", "format", "format_map", "tofile", "fromfile", "load", "loads", "save",
        "savez", "savez_compressed", "savetxt", "loadtxt", "genfromtxt", "fromregex", "memmap",
        "ctypeslib", "ctypes", "f2py", "distutils", "testing", "os", "sys", "subprocess", "system",
        "popen", "builtins", "to_pickle", "to_parquet", "to_feather", "to_hdf", "to_sql", "to_excel",
        "to_stata", "to_orc", "to_clipboard", "to_csv", "to_json", "to_html", "to_latex",
        "to_markdown", "to_xml", "gi_frame", "gi_code", "gi_yieldfrom", "cr_frame", "cr_code",
        "ag_frame", "ag_code", "f_globals", "f_locals", "f_back", "f_builtins", "f_code", "tb_frame",
        "tb_next", "co_code", "func_globals", "mro", "pipe",
    }
)
_FORMAT_FIELD_ATTR = re.compile(r"\{[^{}]*[.\[]\s*_")


@dataclasses.dataclass(frozen=True)
class Issue:
    line: int
    rule: str
    message: str

    def __str__(self) -> str:
        where = f"line {self.line}: " if self.line else ""
        return f"{where}{self.message} [{self.rule}]"


class StrategyValidationError(ValueError):
    """The strategy source breaks one or more rules; ``issues`` lists each with its line."""

    def __init__(self, issues: list[Issue]) -> None:
        self.issues = issues
        shown = "; ".join(str(i) for i in issues[:5])
        more = f" (and {len(issues) - 5} more)" if len(issues) > 5 else ""
        super().__init__(f"Security validation failed: {shown}{more}")


class _Checker(ast.NodeVisitor):
    def __init__(self) -> None:
        self.issues: list[Issue] = []

    def flag(self, node: ast.AST, rule: str, message: str) -> None:
        self.issues.append(Issue(getattr(node, "lineno", 0), rule, message))

    def _check_module(self, node: ast.AST, name: str) -> None:
        if name not in contract.ALLOWED_MODULES:
            allowed = ", ".join(sorted(contract.ALLOWED_MODULES))
            self.flag(node, "import", f"import of {name!r} is not allowed (allowed: {allowed})")

    def visit_Import(self, node: ast.Import) -> None:
        for alias in node.names:
            self._check_module(node, alias.name)

    def visit_ImportFrom(self, node: ast.ImportFrom) -> None:
        if node.level:
            self.flag(node, "import", "relative imports are not allowed")
            return
        module = node.module or ""
        for alias in node.names:
            if alias.name == "*":
                self.flag(node, "import", "star imports are not allowed")
            elif f"{module}.{alias.name}" in contract.ALLOWED_MODULES:
                continue  # e.g. "from quantq.finance.strategy import helpers"
            elif alias.name.startswith("_"):
                self.flag(node, "private-name", f"importing the private name {alias.name!r} is not allowed")
            else:
                self._check_module(node, module)

    def visit_Attribute(self, node: ast.Attribute) -> None:
        if node.attr.startswith("_"):
            self.flag(node, "dunder-attribute", f"access to the private or dunder attribute {node.attr!r} is not allowed")
        elif node.attr in FORBIDDEN_ATTRS or node.attr.startswith("read_"):
            self.flag(node, "forbidden-attribute", f"the attribute {node.attr!r} is not allowed in strategies")
        self.generic_visit(node)

    def visit_Name(self, node: ast.Name) -> None:
        if node.id in FORBIDDEN_NAMES:
            self.flag(node, "forbidden-builtin", f"{node.id!r} is not allowed in strategies")
        elif node.id.startswith("__"):
            self.flag(node, "dunder-name", f"the dunder name {node.id!r} is not allowed")

    def visit_Call(self, node: ast.Call) -> None:
        if isinstance(node.func, ast.Name) and node.func.id in ("getattr", "hasattr"):
            name = node.args[1] if len(node.args) >= 2 else None
            if not (isinstance(name, ast.Constant) and isinstance(name.value, str)):
                self.flag(node, "computed-getattr", f"{node.func.id}() needs a literal attribute name")
            elif name.value.startswith("_") or name.value in FORBIDDEN_ATTRS:
                self.flag(node, "dunder-attribute", f"{node.func.id}() of {name.value!r} is not allowed")
        self.generic_visit(node)

    def visit_Constant(self, node: ast.Constant) -> None:
        if isinstance(node.value, str):
            if "__" in node.value:
                self.flag(node, "dunder-string", "strings containing '__' are not allowed (dunder access by name)")
            elif _FORMAT_FIELD_ATTR.search(node.value):
                self.flag(node, "format-attribute", "format fields that reach private attributes are not allowed")

    def visit_Global(self, node: ast.Global) -> None:
        self.flag(node, "global", "'global' is not allowed; pass values as arguments")

    def visit_ClassDef(self, node: ast.ClassDef) -> None:
        self.flag(node, "class", "class definitions are not allowed in strategies")

    def _check_def(self, node: ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda) -> None:
        name = getattr(node, "name", "")
        if name.startswith("__"):
            self.flag(node, "dunder-name", f"the dunder function name {name!r} is not allowed")
        for dec in getattr(node, "decorator_list", []):
            self.flag(dec, "decorator", "decorators are not allowed in strategies")
        self.generic_visit(node)

    visit_FunctionDef = _check_def
    visit_Lambda = _check_def

    def visit_AsyncFunctionDef(self, node: ast.AsyncFunctionDef) -> None:
        self.flag(node, "async", "async functions are not allowed in strategies")

    def visit_arg(self, node: ast.arg) -> None:
        if node.arg.startswith("__"):
            self.flag(node, "dunder-name", f"the dunder parameter name {node.arg!r} is not allowed")


def entry_name(tree: ast.Module) -> str | None:
    """The function the sandbox calls: ``strategy``/``my_strategy``, else the last public def."""
    defs = [n.name for n in tree.body if isinstance(n, ast.FunctionDef)]
    for preferred in contract.ENTRY_NAMES:
        if preferred in defs:
            return preferred
    public = [d for d in defs if not d.startswith("_")]
    return public[-1] if public else None


def validate(source: str) -> str:
    """Check ``source``; return the entry function's name or raise :class:`StrategyValidationError`."""
    if not isinstance(source, str) or not source.strip():
        raise StrategyValidationError([Issue(0, "empty", "strategy_code must be non-empty Python source")])
    if len(source) > contract.MAX_SOURCE_CHARS:
        raise StrategyValidationError([Issue(0, "size", f"source is {len(source)} characters; the limit is {contract.MAX_SOURCE_CHARS}")])
    if source.count("\n") + 1 > contract.MAX_SOURCE_LINES:
        raise StrategyValidationError([Issue(0, "size", f"source has more than {contract.MAX_SOURCE_LINES} lines")])
    if "\x00" in source:
        raise StrategyValidationError([Issue(0, "syntax", "source contains a NUL character")])
    try:
        tree = ast.parse(source, filename="<strategy>")
    except SyntaxError as exc:
        raise StrategyValidationError([Issue(exc.lineno or 0, "syntax", f"syntax error: {exc.msg}")]) from None
    except (RecursionError, MemoryError, ValueError):
        raise StrategyValidationError([Issue(0, "syntax", "source is too deeply nested to parse")]) from None
    if sum(1 for _ in ast.walk(tree)) > contract.MAX_AST_NODES:
        raise StrategyValidationError([Issue(0, "size", f"source has more than {contract.MAX_AST_NODES} syntax nodes")])
    checker = _Checker()
    checker.visit(tree)
    name = entry_name(tree)
    if name is None:
        checker.issues.append(Issue(0, "entry", "define a function, e.g. def my_strategy(df): ... return instances"))
    if checker.issues:
        raise StrategyValidationError(sorted(checker.issues, key=lambda i: i.line))
    assert name is not None
    return name
