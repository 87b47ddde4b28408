"""Ansible host patterns for ``--limit``: names, groups, globs, ``~regex``, ``a:b``, ``&a``, ``!a``."""

from __future__ import annotations

import fnmatch
import re

from bootstrap.errors import BootstrapError, did_you_mean
from bootstrap.inventory import Inventory


def select(inventory: Inventory, pattern: str | None) -> list[str]:
    """Host names matching the pattern, in inventory order; an empty match is an error."""
    names = list(inventory.hosts)
    if pattern is None:
        return names
    terms = [t.strip() for t in re.split(r"[,:]", pattern) if t.strip()]
    plain = [t for t in terms if t[0] not in "!&"] or ["all"]
    # Ansible evaluates plain terms first, then intersections, then exclusions.
    chosen: set[str] = set()
    for term in plain:
        chosen |= _match(inventory, term)
    for term in (t for t in terms if t[0] == "&"):
        chosen &= _match(inventory, term[1:])
    for term in (t for t in terms if t[0] == "!"):
        chosen -= _match(inventory, term[1:])
    if not chosen:
        known = set(inventory.hosts) | set(inventory.groups)
        hint = did_you_mean(plain[0], known) if len(terms) == 1 else ""
        raise BootstrapError(f"--limit {pattern!r} matches no host{hint}")
    return [n for n in names if n in chosen]


def _match(inventory: Inventory, term: str) -> set[str]:
    if term in inventory.hosts:
        return {term}
    if term.startswith("~"):
        regex = re.compile(term[1:])
        groups = [g for name, g in inventory.groups.items() if regex.match(name)]
        hosts = {h for h in inventory.hosts if regex.match(h)}
    else:
        term = "all" if term == "*" else term
        groups = [g for name, g in inventory.groups.items() if fnmatch.fnmatchcase(name, term)]
        hosts = {h for h in inventory.hosts if fnmatch.fnmatchcase(h, term)}
    for group in groups:
        for member in group.descendants_or_self():
            hosts.update(member.hosts)
    if any(g.name == "all" for g in groups):
        hosts.update(inventory.hosts)
    return hosts
