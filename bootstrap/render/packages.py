"""A role's folder is a Python package: ``roles/puppet-agent/`` is ``bootstrap.roles.puppet_agent``.

Role folders are named as the inventory names the role (``puppet-agent``), which is no Python
identifier, and they ship at the top of a checkout or inside the installed package (see
:mod:`bootstrap.paths`). So, as cloud-init maps a config module's name to its ``cc_`` module, the
finder below maps ``bootstrap.roles.<name with _ for ->`` to the built-in folder of that role.
Modules inside a role folder are then found the ordinary way, through the package's ``__path__``.

A role folder next to an inventory gets a package of its own, named after the folder's path, so
two inventories with a role of the same name never share one module.
"""

from __future__ import annotations

import hashlib
import importlib.machinery
import sys
from pathlib import Path
from types import ModuleType

from bootstrap.paths import builtin

BUILTIN = "bootstrap.roles"
USER = "bootstrap_user_roles"


def python_name(role: str) -> str:
    """``puppet-agent`` -> ``puppet_agent``: the name of a role's package."""
    return role.replace("-", "_").replace(".", "_")


def package_name(folder: Path) -> str:
    """The package of the role in ``folder``, imported (created) on first use."""
    if folder.parent.resolve() == builtin("roles").resolve():
        name = f"{BUILTIN}.{python_name(folder.name)}"
    else:
        digest = hashlib.sha256(str(folder.resolve()).encode()).hexdigest()[:12]
        name = f"{USER}_{python_name(folder.name)}_{digest}"
        if name not in sys.modules:
            _register(name, folder)
    return name


def _register(name: str, folder: Path) -> ModuleType:
    import importlib.util

    spec = importlib.machinery.ModuleSpec(name, None, is_package=True)
    spec.submodule_search_locations = [str(folder)]
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    return module


class _BuiltinRoles:
    """Finds ``bootstrap.roles`` and ``bootstrap.roles.<role>``; deeper modules need no help.

    A meta path finder is any object with ``find_spec``: not deriving from
    ``importlib.abc.MetaPathFinder`` spares every command importing ``importlib.resources``.
    """

    def find_spec(self, fullname: str, path: object = None,
                  target: object = None) -> importlib.machinery.ModuleSpec | None:
        if fullname == BUILTIN:
            return importlib.machinery.ModuleSpec(fullname, None, is_package=True)
        prefix, _, role = fullname.rpartition(".")
        if prefix != BUILTIN:
            return None
        for folder in builtin("roles").iterdir():
            if python_name(folder.name) == role and (folder / "role.yml").is_file():
                spec = importlib.machinery.ModuleSpec(fullname, None, is_package=True)
                spec.submodule_search_locations = [str(folder)]
                return spec
        return None


def install() -> None:
    """Once per process, ahead of the path finder (which would see an installed ``roles/``
    folder as an empty namespace package)."""
    if not any(isinstance(f, _BuiltinRoles) for f in sys.meta_path):
        sys.meta_path.insert(0, _BuiltinRoles())
