"""Where built-in templates and roles live, in a checkout and in an installed wheel."""

from __future__ import annotations

from pathlib import Path

_PACKAGE = Path(__file__).resolve().parent


def builtin(kind: str) -> Path:
    """``templates`` or ``roles``: inside the package when installed, at the top of a checkout."""
    installed = _PACKAGE / kind
    return installed if installed.is_dir() else _PACKAGE.parent / kind


def search_path(kind: str, inventory_dir: Path) -> list[Path]:
    """The user's folder next to the inventory first, so its files override built-ins one by one."""
    own = inventory_dir / kind
    return [p for p in (own, builtin(kind)) if p.is_dir()]
