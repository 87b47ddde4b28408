"""Template overrides that replace nothing.

A template of the inventory's ``templates/`` replaces the built-in one of the same path. When a
built-in template moves (built-in templates live in ``templates/<role>/``), an override left at
the old path would be silently ignored and the built-in rendered instead; so render warns about
an inventory template that no role uses while a built-in template of the same name under
another folder exists.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path

from bootstrap.paths import builtin

# Enough for any real inventory's templates; a bigger folder is not walked further.
MAX_FILES = 10_000


def stray_overrides(inventory_dir: Path, used: Iterable[str]) -> list[str]:
    """Warnings for ``templates/X/rest`` of the inventory that no role renders (``used``: the
    template paths roles name) while the built-in ``templates/Y/rest`` exists."""
    own = inventory_dir / "templates"
    if not own.is_dir() or own.is_symlink():
        return []
    builtins = _relative_files(builtin("templates"))
    by_rest: dict[str, list[str]] = {}
    for path in builtins:
        folder, _, rest = path.partition("/")
        if rest:
            by_rest.setdefault(rest, []).append(path)
    used = set(used)
    warnings = []
    for path in sorted(_relative_files(own)):
        folder, _, rest = path.partition("/")
        if not rest or path in builtins or path in used:
            continue
        moved = [b for b in by_rest.get(rest, []) if b.split("/", 1)[0] != folder]
        if moved:
            warnings.append(f"{own / path} replaces no template and no role renders it; the "
                            f"built-in template of that name is templates/{moved[0]}: move it "
                            "there to keep overriding it")
    return warnings


def _relative_files(root: Path) -> set[str]:
    found: set[str] = set()
    # Links are not followed: a loop or a link out of the inventory is not walked.
    for folder, _, files in os.walk(root, followlinks=False):
        for name in files:
            if len(found) >= MAX_FILES:
                return found
            found.add((Path(folder) / name).relative_to(root).as_posix())
    return found
