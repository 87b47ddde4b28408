"""Ansible host patterns for ``--limit``, with the rules of ansible-core's InventoryManager.

A pattern is a list of terms split on ``,`` (or, when it has no comma and is not itself a host
address, on ``:``). Each term is a host or group name, a glob (``web*``), a regex (``~web\\d+``),
optionally with a subscript (``web[0]``, ``web[1:]``, ``web[0:2]``, inclusive), and a prefix:
``&`` intersects, ``!`` excludes. Plain terms are applied first, then ``&``, then ``!``; with no
plain term the selection starts from ``all``. ``@FILE`` reads one term per line from FILE.
"""

from __future__ import annotations

import fnmatch
import re
from pathlib import Path

from bootstrap.errors import BootstrapError, Origin, did_you_mean
from bootstrap.inventory.loading import Group, Inventory, parse_address
from bootstrap.inventory.yamlfile import read_file

# 'name[3]', 'name[-1]', 'name[1:]', 'name[0:2]' (inclusive); '[x-y]' is the old spelling.
_SUBSCRIPT = re.compile(r"^(.+)\[(?:(-?[0-9]+)|([0-9]+)([:-])([0-9]*))\]$")
# A ':'-separated list: runs of anything but whitespace and ':[]', or whole [...] groups.
_COLON_TERM = re.compile(r"(?:[^\s:\[\]]|\[[^\]]*\])+")
_GLOB_CHARS = (".", "?", "*", "[")


def select(inventory: Inventory, pattern: str | None) -> list[str]:
    """Host names matching the pattern, in inventory order; an empty match is an error."""
    names = list(inventory.hosts)
    if pattern is None:
        return names
    terms = _ordered(_expand_files(split(pattern)))
    chosen: dict[str, None] = {}  # ordered set
    for term in terms:
        if term in inventory.hosts:  # a plain host name, as Ansible short-cuts it
            chosen[term] = None
            continue
        matched = set(_match_term(inventory, term))
        if term[0] == "!":
            chosen = {h: None for h in chosen if h not in matched}
        elif term[0] == "&":
            chosen = {h: None for h in chosen if h in matched}
        else:
            chosen.update(dict.fromkeys(h for h in inventory.hosts if h in matched))
    if not chosen:
        plain = [t for t in terms if t[0] not in "!&"]
        known = set(inventory.hosts) | set(inventory.groups)
        hint = did_you_mean(plain[0], known) if len(terms) == 1 and plain else ""
        raise BootstrapError(f"--limit {pattern!r} matches no host{hint}")
    return [n for n in names if n in chosen]


def split(pattern: str) -> list[str]:
    """Ansible's split_host_pattern: commas first; colons only when the whole is no address."""
    if "," in pattern:
        parts = pattern.split(",")
    elif parse_address(pattern) is not None:  # an IPv6 address or a 'host:port' stays whole
        parts = [pattern]
    else:
        parts = _COLON_TERM.findall(pattern)
        # Ansible drops what no term can hold (an unclosed '[' or a ']') without a word, and
        # then matches what remains: a mistyped limit would reach more hosts than meant.
        stray = _COLON_TERM.sub("", pattern).replace(":", "").strip()
        if stray:
            raise BootstrapError(f"--limit {pattern!r}: {stray[0]!r} belongs to no host pattern "
                                 "(an unclosed '[' or a stray ']'?)")
    return [p.strip() for p in parts if p.strip()]


def _expand_files(terms: list[str]) -> list[str]:
    out: list[str] = []
    for term in terms:
        if not term.startswith("@"):
            out.append(term)
            continue
        # Read as inventory files are: a FIFO, a folder or a huge file is an error, not a hang.
        text = read_file(Path(term[1:]), term[1:])
        try:
            out.extend(line.strip() for line in text.decode().split("\n"))
        except UnicodeDecodeError:
            raise BootstrapError("--limit: the limit file is not UTF-8 text",
                                 origin=Origin(term[1:])) from None
    return out


def _ordered(terms: list[str]) -> list[str]:
    terms = [t for t in terms if t]
    plain = [t for t in terms if t[0] not in "!&"] or ["all"]
    return plain + [t for t in terms if t[0] == "&"] + [t for t in terms if t[0] == "!"]


def _match_term(inventory: Inventory, term: str) -> list[str]:
    if term[0] in "&!":
        term = term[1:]
    expr, subscript = term, None
    if not term.startswith("~"):
        match = _SUBSCRIPT.match(term)
        if match:
            expr, index, start, _, end = match.groups()
            subscript = (int(index), None) if index else (int(start), int(end) if end else -1)
    hosts = _enumerate(inventory, expr)
    if not hosts or subscript is None:
        return hosts
    start, stop = subscript
    try:
        if not stop:  # as in Ansible, [x:0] is the single host x
            return [hosts[start]]
        return hosts[start:(len(hosts) - 1 if stop == -1 else stop) + 1]
    except IndexError:
        raise BootstrapError(f"--limit: no host matches the subscripted pattern {term!r}") from None


def _enumerate(inventory: Inventory, expr: str) -> list[str]:
    """Hosts of every group the expression matches, then (if fitting) hosts it matches itself."""
    try:
        regex = re.compile(expr[1:] if expr.startswith("~") else fnmatch.translate(expr))
    except re.error as exc:
        raise BootstrapError(f"--limit: invalid host pattern {expr!r}: {exc}") from None
    found: dict[str, None] = {}
    groups = [group for name, group in inventory.groups.items() if regex.match(name)]
    for group in groups:
        found.update(dict.fromkeys(_group_hosts(group)))
    if not groups or expr.startswith("~") or any(c in expr for c in _GLOB_CHARS):
        found.update(dict.fromkeys(h for h in inventory.hosts if regex.match(h)))
    return list(found)


def _group_hosts(group: Group) -> list[str]:
    """The group's hosts, then its children's, level by level (Ansible's order for subscripts)."""
    out: dict[str, None] = {}
    level, seen = [group], {id(group)}
    while level:
        following: list[Group] = []
        for current in level:
            out.update(dict.fromkeys(current.hosts))
            for child in current.children:
                if id(child) not in seen:
                    seen.add(id(child))
                    following.append(child)
        level = following
    return list(out)
