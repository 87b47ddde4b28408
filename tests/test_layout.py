"""The layout reads top to bottom: no module imports a later stage of the data flow back, and
the engine names no role (roles reach it only through the hooks their role.yml declares)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest
from support.cli import ROOT

from bootstrap.render.registry import Registry

# Stage of each module, by the longest matching prefix; a module may import its own stage and
# the stages below it. build writes what render made, validate's registry lists the roles'
# checkers, and the checker base, programs and redaction are what roles' checkers build on.
STAGES = {
    "bootstrap.__main__": 10,
    "bootstrap.cli": 9,
    "bootstrap.commands": 8,
    "bootstrap.cloud": 7,
    "bootstrap.fleet": 7,
    "bootstrap.lab": 7,
    "bootstrap.validate": 7,
    "bootstrap.build": 6,
    "bootstrap.build.manifest": 1,
    "bootstrap.roles": 5,
    "bootstrap.validate.checker": 4.5,
    "bootstrap.validate.checkers": 4.5,
    "bootstrap.validate.programs": 4.5,
    "bootstrap.validate.redaction": 4.5,
    "bootstrap.render": 4,
    "bootstrap.hosts": 3,
    "bootstrap.inventory": 2,
    "bootstrap.render.packages": 1,
    "bootstrap": 1,
    "bootstrap.errors": 0,
    "bootstrap.paths": 0,
}
BUILTIN_ROLES = Registry(None).names()


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[0] == "roles":
        parts = ["bootstrap", "roles", parts[1].replace("-", "_"), *parts[2:]]
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _stage(module: str) -> float:
    prefixes = [p for p in STAGES if module == p or module.startswith(p + ".")]
    return STAGES[max(prefixes, key=len)]


def _modules() -> list[tuple[str, Path]]:
    files = [*ROOT.glob("bootstrap/**/*.py"), *ROOT.glob("roles/*/*.py")]
    return sorted((_module_name(p), p) for p in files)


def _imports(path: Path) -> list[tuple[int, str]]:
    found = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found += [(node.lineno, node.module)]
            found += [(node.lineno, f"{node.module}.{a.name}") for a in node.names]
        elif isinstance(node, ast.Import):
            found += [(node.lineno, a.name) for a in node.names]
    return [(line, name) for line, name in found if name.split(".")[0] == "bootstrap"]


def _is_module(name: str) -> bool:
    """``from bootstrap.x import y`` names y, a module or not; only modules are stages."""
    return name in {m for m, _ in _modules()} or any(m.startswith(name + ".") for m, _ in _modules())


def test_modules_import_only_their_stage_and_the_stages_below() -> None:
    upward = []
    for module, path in _modules():
        for line, name in _imports(path):
            if _is_module(name) and _stage(name) > _stage(module):
                upward.append(f"{path.relative_to(ROOT)}:{line}: {module} imports {name}")
    assert not upward, "\n".join(upward)


def test_the_engine_imports_no_role_and_a_role_no_other_role() -> None:
    crossing = []
    for module, path in _modules():
        own = ".".join(module.split(".")[:3]) if module.startswith("bootstrap.roles.") else None
        for line, name in _imports(path):
            if not name.startswith("bootstrap.roles.") or name == own or name.startswith(f"{own}."):
                continue
            crossing.append(f"{path.relative_to(ROOT)}:{line}: {module} imports {name}")
    assert not crossing, "\n".join(crossing)


def _literals(path: Path) -> list[tuple[int, str]]:
    tree = ast.parse(path.read_text(), str(path))
    docstrings = {id(n.body[0].value) for n in ast.walk(tree)
                  if isinstance(n, ast.Module | ast.ClassDef | ast.FunctionDef)
                  and n.body and isinstance(n.body[0], ast.Expr)}
    return [(n.lineno, n.value) for n in ast.walk(tree)
            if isinstance(n, ast.Constant) and isinstance(n.value, str) and id(n) not in docstrings]


@pytest.mark.parametrize("role", BUILTIN_ROLES)
def test_no_engine_module_names_a_builtin_role(role: str) -> None:
    named = [f"{path.relative_to(ROOT)}:{line}: {value!r}"
             for module, path in _modules() if not module.startswith("bootstrap.roles.")
             for line, value in _literals(path) if value == role]
    assert not named, "\n".join(named)


def test_every_builtin_role_is_one_folder_with_its_templates_beside() -> None:
    for role in BUILTIN_ROLES:
        folder = ROOT / "roles" / role
        assert (folder / "role.yml").is_file()
        templates = {a.template.split("/")[0] for a in Registry(None).get(role).artifacts}
        assert templates <= {role}, f"{role} renders templates of {sorted(templates)}"
