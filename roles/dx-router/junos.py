"""Junos configuration text, read back into statements: the offline check of both output styles.

No Junos runs here, so the check is structural: the text must tokenize as Junos does (quoted
strings, ``/* */`` and ``#`` comments, braces and semicolons), every statement must sit under a
hierarchy we render, and every policy, prefix list and community a statement names must be
defined. ``set`` and curly text read into the same statements, so both styles of one router can
be compared for equality.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

Statement = tuple[str, ...]

_TOKEN = re.compile(r'\s*(?:(/\*.*?\*/)|(#[^\n]*)|("(?:[^"\\\n]|\\.)*")|([{};])|([^\s{};"#]+))', re.S)
TOP_LEVELS = {"interfaces", "routing-options", "policy-options", "protocols", "security"}


class JunosSyntaxError(ValueError):
    """Text Junos would not load, with the line it stops at."""


def _tokens(text: str) -> Iterator[tuple[str, int]]:
    pos = 0
    while pos < len(text):
        match = _TOKEN.match(text, pos)
        line = text.count("\n", 0, pos) + 1
        if not match or match.end() == pos:
            if text[pos:].strip():
                raise JunosSyntaxError(f"line {line}: cannot read {text[pos:pos + 20]!r}")
            return
        pos = match.end()
        comment_block, comment_line, quoted, punct, word = match.groups()
        if comment_block or comment_line:
            continue
        token = quoted or punct or word
        if token:
            yield token, text.count("\n", 0, match.start(match.lastindex or 0)) + 1


def parse_curly(text: str) -> list[Statement]:
    """Statements of a curly-brace configuration, each as its full path of words."""
    out: list[Statement] = []
    stack: list[list[str]] = []
    words: list[str] = []
    line = 1
    for token, line in _tokens(text):
        if token == "{":
            if not words:
                raise JunosSyntaxError(f"line {line}: a block needs a name")
            stack.append(words)
            words = []
        elif token == ";":
            if not words:
                raise JunosSyntaxError(f"line {line}: empty statement")
            out.append(tuple(w for level in stack for w in level) + tuple(words))
            words = []
        elif token == "}":
            if words:
                raise JunosSyntaxError(f"line {line}: statement {' '.join(words)!r} lacks its ';'")
            if not stack:
                raise JunosSyntaxError(f"line {line}: '}}' without a block")
            stack.pop()
        else:
            words.append(token)
    if words:
        raise JunosSyntaxError(f"line {line}: statement {' '.join(words)!r} lacks its ';'")
    if stack:
        raise JunosSyntaxError(f"end of text: {len(stack)} block(s) not closed")
    return out


def parse_set(text: str) -> list[Statement]:
    """Statements of ``set`` commands (one per line)."""
    out: list[Statement] = []
    for number, raw in enumerate(text.splitlines(), 1):
        tokens = [t for t, _ in _tokens(raw)]
        if not tokens:
            continue
        if tokens[0] != "set" or len(tokens) < 3:
            raise JunosSyntaxError(f"line {number}: not a 'set' command: {raw.strip()!r}")
        if any(t in "{};" for t in tokens):
            raise JunosSyntaxError(f"line {number}: braces or ';' in a set command")
        out.append(tuple(tokens[1:]))
    return out


def problems(statements: list[Statement]) -> list[str]:
    """What Junos would reject or what would not work: unknown hierarchies, dangling names."""
    found: list[str] = []
    defined: dict[str, set[str]] = {"policy-statement": set(), "prefix-list": set(), "community": set()}
    for st in statements:
        if st[0] not in TOP_LEVELS:
            found.append(f"statement outside the rendered hierarchies: {' '.join(st)}")
        if st[0] == "policy-options" and len(st) > 2 and st[1] in defined:
            defined[st[1]].add(st[2])
    for st in statements:
        for want, kind in _references(st):
            if want not in defined[kind]:
                found.append(f"{' '.join(st)}: {kind} {want} is not defined")
    found += _bgp_problems(statements)
    found += _interface_problems(statements)
    found += _zone_problems(statements)
    return found


def _zone_problems(statements: list[Statement]) -> list[str]:
    """SRX: a zone names only rendered units, and lets in BGP (and BFD where a neighbor runs it)."""
    units = {f"{st[1]}.{st[3]}" for st in statements
             if st[0] == "interfaces" and len(st) > 4 and st[2] == "unit"}
    allowed: dict[str, set[str]] = {}
    for st in statements:
        if st[:3] == ("security", "zones", "security-zone") and len(st) > 5 and st[4] == "interfaces":
            protocols = allowed.setdefault(st[5], set())
            if st[6:8] == ("host-inbound-traffic", "protocols") and len(st) > 8:
                protocols.add(st[8])
    if not allowed:
        return []
    bfd = any("bfd-liveness-detection" in st for st in statements)
    found = []
    for unit, protocols in allowed.items():
        if unit not in units:
            found.append(f"security zone interface {unit} is not a rendered unit")
        if "bgp" not in protocols:
            found.append(f"security zone interface {unit}: host-inbound-traffic lacks bgp")
    for unit in sorted(units - set(allowed)):
        found.append(f"unit {unit} is in no security zone: the SRX drops BGP to it")
    if bfd and not any("bfd" in p for p in allowed.values()):
        found.append("BFD runs but no security zone lets it in (host-inbound-traffic protocols bfd)")
    return found


def _references(st: Statement) -> Iterator[tuple[str, str]]:
    for index, word in enumerate(st[:-1]):
        if word in ("import", "export") and st[0] in ("protocols", "routing-options"):
            yield st[index + 1], "policy-statement"
        elif word == "prefix-list-filter":
            yield st[index + 1], "prefix-list"
        elif word in ("add", "set", "delete") and index > 0 and st[index - 1] == "community":
            yield st[index + 1], "community"


def _bgp_problems(statements: list[Statement]) -> list[str]:
    groups: dict[str, list[Statement]] = {}
    for st in statements:
        if st[:3] == ("protocols", "bgp", "group") and len(st) > 4:
            groups.setdefault(st[3], []).append(st[4:])
    found = []
    for name, body in groups.items():
        if ("type", "external") not in {tuple(b[:2]) for b in body}:
            found.append(f"bgp group {name}: no 'type external'")
        if not any(b[0] == "peer-as" for b in body):
            found.append(f"bgp group {name}: no peer-as")
        neighbors = {b[1] for b in body if b[0] == "neighbor" and len(b) > 1}
        if not neighbors:
            found.append(f"bgp group {name}: no neighbor")
        for neighbor in neighbors:
            if not any(b[:3] == ("neighbor", neighbor, "authentication-key") for b in body):
                found.append(f"bgp group {name} neighbor {neighbor}: no authentication-key")
    return found


def _interface_problems(statements: list[Statement]) -> list[str]:
    media: dict[str, int] = {}
    units: dict[tuple[str, str], list[Statement]] = {}
    for st in statements:
        if st[0] != "interfaces" or len(st) < 4:
            continue
        if st[2] == "mtu":
            media[st[1]] = int(st[3])
        elif st[2] == "unit" and len(st) > 4:
            units.setdefault((st[1], st[3]), []).append(st[4:])
    found = []
    for (ifd, unit), body in units.items():
        if not any(b[0] == "vlan-id" for b in body):
            found.append(f"interfaces {ifd} unit {unit}: no vlan-id")
        for b in body:
            fits = b[0] != "family" or len(b) < 4 or b[2] != "mtu" or ifd not in media \
                or int(b[3]) + 22 <= media[ifd]
            if not fits:
                found.append(f"interfaces {ifd} unit {unit}: family {b[1]} mtu {b[3]} does not "
                             f"fit in media mtu {media[ifd]} (needs +22 for two tags)")
    return found
