"""Finding and calling testinfra-style checks: ``def test_x(host, hostvars, manifest)``.

Every host gets the checks of :mod:`bootstrap.fleet.manifest_checks`; a host with role R also gets the
``test_*`` functions of ``roles/R/checks.py`` (the inventory's own role folder first). A check
may take any of the three fixtures (and pytest's ``record_property``, to state what it saw: verify
shows it under the check, in the JSON and in the JUnit XML), use ``pytest.mark.parametrize``,
``skip``/``skipif`` marks, ``pytest.skip()`` and ``pytest.fail()``. Check modules are loaded with
pytest's assertion rewriting, so a bare ``assert a == b`` says what both sides were, as it does under pytest.
"""

from __future__ import annotations

import ast
import itertools
import types
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bootstrap.errors import BootstrapError, Origin
from bootstrap.render.registry import Registry

FIXTURES = ("host", "hostvars", "manifest")
MANIFEST_LABEL = "manifest"


@dataclass(frozen=True)
class Check:
    """One call of a check function, with its parameters."""

    role: str
    function: Callable[..., Any]
    params: dict[str, Any] = field(default_factory=dict)
    param_id: str = ""
    skip: str | None = None  # reason, from a skip/skipif mark

    @property
    def name(self) -> str:
        suffix = f"[{self.param_id}]" if self.param_id else ""
        return f"{self.role}::{self.function.__name__}{suffix}"

    @property
    def fixtures(self) -> list[str]:
        code = self.function.__code__
        return [n for n in code.co_varnames[:code.co_argcount] if n not in self.params]


class Library:
    """Check modules, each loaded once, by role."""

    def __init__(self, registry: Registry) -> None:
        self.registry = registry
        self._modules: dict[str, list[Check]] = {}

    def for_roles(self, roles: list[str]) -> list[Check]:
        """The generic manifest checks, then each role's checks, in role order."""
        out = list(self._load(MANIFEST_LABEL))
        for role in roles:
            out.extend(self._load(role))
        return out

    def _load(self, role: str) -> list[Check]:
        if role not in self._modules:
            path = manifest_checks_path() if role == MANIFEST_LABEL else \
                self.registry.get(role).file("checks.py")
            self._modules[role] = collect(role, load_module(role, path)) if path else []
        return self._modules[role]


def manifest_checks_path() -> Path:
    return Path(__file__).with_name("manifest_checks.py")


def load_module(role: str, path: Path) -> types.ModuleType:
    """Import a checks file with pytest's assertion rewriting; a syntax error names file:line."""
    from _pytest.assertion.rewrite import rewrite_asserts

    source = path.read_bytes()
    try:
        tree = ast.parse(source, filename=str(path))
    except SyntaxError as exc:
        raise BootstrapError(f"syntax error in checks: {exc.msg}",
                             origin=Origin(str(path), exc.lineno or 0)) from None
    rewrite_asserts(tree, source, str(path))
    module = types.ModuleType(f"bootstrap_checks.{role}")
    module.__file__ = str(path)
    exec(compile(tree, str(path), "exec", dont_inherit=True), module.__dict__)
    return module


def collect(role: str, module: types.ModuleType) -> list[Check]:
    out = []
    for name, function in vars(module).items():
        if not name.startswith("test") or not callable(function) or \
                getattr(function, "__module__", None) != module.__name__:
            continue
        marks = getattr(function, "pytestmark", [])
        skip = _skip_reason(marks)
        for params, param_id in _parameters(marks):
            out.append(Check(role, function, params, param_id, skip))
    return out


def _skip_reason(marks: list[Any]) -> str | None:
    for mark in marks:
        if mark.name == "skip":
            return str(mark.kwargs.get("reason") or (mark.args[0] if mark.args else "skipped"))
        if mark.name == "skipif" and mark.args and all(bool(c) for c in mark.args):
            return str(mark.kwargs.get("reason", "skipif condition is true"))
    return None


def _parameters(marks: list[Any]) -> list[tuple[dict[str, Any], str]]:
    """The cartesian product of every parametrize mark, with pytest-like ids."""
    axes = []
    for mark in marks:
        if mark.name != "parametrize":
            continue
        names, values = mark.args[0], mark.args[1]
        names = [n.strip() for n in names.split(",")] if isinstance(names, str) else list(names)
        ids = mark.kwargs.get("ids")
        axis = []
        for index, value in enumerate(values):
            given_id = None
            if hasattr(value, "values") and hasattr(value, "marks"):  # pytest.param(...)
                row, given_id = tuple(value.values), value.id
            else:
                row = tuple(value) if len(names) > 1 else (value,)
            label = given_id or (ids[index] if isinstance(ids, list | tuple) else None) or \
                "-".join(_id(v) for v in row)
            axis.append((dict(zip(names, row, strict=True)), str(label)))
        axes.append(axis)
    if not axes:
        return [({}, "")]
    out = []
    for combo in itertools.product(*axes):
        params: dict[str, Any] = {}
        for part, _ in combo:
            params.update(part)
        out.append((params, "-".join(label for _, label in combo)))
    return out


def _id(value: Any) -> str:
    if isinstance(value, str | int | float | bool) or value is None:
        return str(value)
    return type(value).__name__
