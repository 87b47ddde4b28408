"""Redundancy across routers: the VIFs that back each other up do not share a single point of failure.

AWS's resiliency models put each VIF of a pair on its own router, its own connection and,
for high resiliency, its own Direct Connect location. One router sees only its own VIFs, so
this is a fleet hook: over every selected router it groups the VIFs that back each other up
and writes ``_fleet/dx-redundancy.json``, with a warning for each pair that shares a router,
a connection or a location.

A group is named in the inventory (``group``); without a name, the VIFs of one type to one
Amazon ASN that advertise a prefix in common back each other up (AWS's active/passive and
active/active patterns advertise the same prefixes over each VIF).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from itertools import combinations
from typing import Any

from bootstrap.hosts.loader import Target
from bootstrap.render.renderer import Artifact

ROLE = "dx-router"
REPORT = "dx-redundancy.json"


@dataclass(frozen=True)
class Member:
    host: str
    index: int
    vif: Any  # the validated Vif

    @property
    def name(self) -> str:
        return f"{self.vif.redundancy} {self.vif.id} ({self.host} dx.vifs.{self.index})"

    def as_json(self) -> dict[str, Any]:
        return {"host": self.host, "key": f"dx.vifs.{self.index}", "vif": self.vif.id,
                "redundancy": self.vif.redundancy, "connection": self.vif.connection,
                "location": self.vif.location}


def members(targets: list[Target]) -> list[Member]:
    out = []
    for target in sorted(targets, key=lambda t: t.name):
        settings = target.settings.get("dx")
        if settings is None:
            continue
        out.extend(Member(target.name, index, vif) for index, vif in enumerate(settings.vifs))
    return out


def groups(found: list[Member]) -> dict[str, list[Member]]:
    """The VIFs that back each other up, by group name; VIFs with no partner are left out."""
    named: dict[str, list[Member]] = {}
    implicit: list[list[Member]] = []
    for member in found:
        if member.vif.group is not None:
            named.setdefault(member.vif.group, []).append(member)
            continue
        # Merge every implicit group this VIF shares a prefix with (one VIF can join two).
        joined = [g for g in implicit if any(_partners(member.vif, other.vif) for other in g)]
        merged = [m for g in joined for m in g] + [member]
        implicit = [g for g in implicit if g not in joined] + [merged]
    out = {name: group for name, group in sorted(named.items()) if len(group) > 1}
    for group in implicit:
        if len(group) > 1:
            first = group[0]
            name = f"{first.vif.type} to AS{first.vif.amazon_asn} ({first.host} {first.vif.id})"
            while name in out:  # a group named so in the inventory
                name += "'"
            out[name] = group
    return out


def duplicates(found: list[Member]) -> list[str]:
    """A VIF ends on one router: the same id on two is a copy left unchanged."""
    seen: dict[str, Member] = {}
    out = []
    for member in found:
        first = seen.setdefault(member.vif.id, member)
        if first is not member and first.host != member.host:
            out.append(f"{member.vif.id} is on {first.host} dx.vifs.{first.index} and on "
                       f"{member.host} dx.vifs.{member.index}: a VIF ends on one router")
    return out


def _prefixes(vif: Any) -> set[Any]:
    return {*vif.advertise.ipv4, *vif.advertise.ipv6}


def _partners(one: Any, other: Any) -> bool:
    return (one.type == other.type and one.amazon_asn == other.amazon_asn
            and bool(_prefixes(one) & _prefixes(other)))


def shared(one: Member, other: Member) -> list[str]:
    """What two VIFs of a group have in common that would take both down at once."""
    out = []
    if one.host == other.host:
        out.append(f"router {one.host}")
    for what in ("connection", "location"):
        mine, theirs = getattr(one.vif, what), getattr(other.vif, what)
        if mine is not None and mine == theirs:
            out.append(f"{what} {mine}")
    return out


def report(targets: list[Target]) -> dict[str, Any]:
    out_groups = []
    found_members = members(targets)
    warnings = duplicates(found_members)
    for name, group in groups(found_members).items():
        found = []
        for one, other in combinations(group, 2):
            common = shared(one, other)
            if common:
                found.append(f"group {name}: {one.name} and {other.name} share "
                             f"{' and '.join(common)}; one failure there takes both down")
        warnings += found
        out_groups.append({"group": name, "vifs": [m.as_json() for m in group], "warnings": found})
    return {"groups": out_groups, "warnings": warnings}


def fleet(targets: list[Target]) -> list[Artifact]:
    """The role's fleet hook: the redundancy report of the selected routers."""
    text = json.dumps(report(targets), indent=2, sort_keys=True) + "\n"
    return [Artifact(REPORT, text.encode(), 0o644, "root:root", ROLE)]
