"""Template values of the ``base`` role: who the host is, in one place."""

from __future__ import annotations

from typing import Any

from bootstrap.hosts.loader import Target


def context(target: Target, settings: Any) -> dict[str, Any]:
    # Names come from the inventory; motd is free text, so they are printed on one line each
    # and any control character is dropped rather than allowed to add a line.
    def line(items: tuple[str, ...]) -> str:
        return ", ".join("".join(c for c in i if c.isprintable()) for i in items) or "-"

    return {
        "hostname": line((target.name,)),
        "groups_line": line(target.groups),
        "roles_line": line(target.roles),
        "identity": {"name": target.name, "groups": list(target.groups), "roles": list(target.roles)},
    }
