"""What a Linux router's BGP daemon and kernel say about each session, read from their own output.

FRR and OpenBGPD answer in JSON (``vtysh -c '... json'``, ``bgpctl -j``), the kernel too (``ip
-j route``); BIRD 2 has no JSON output, so its ``birdc`` text is read here, each field by the
label BIRD prints before it. Every reader takes the command's whole output and never raises on
an odd one: a field it cannot find is ``None`` (or absent), which the checks report as unknown.
"""

from __future__ import annotations

import ipaddress
import json
import re
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Peer:
    """One BGP session as the daemon reports it."""

    state: str  # as the daemon names it: Established, Active, Connect, Idle, ...
    uptime: str | None = None  # how long Established (BIRD: since when), None when not
    received: int | None = None  # prefixes accepted from the peer
    sent: int | None = None  # prefixes advertised to the peer
    last_error: str = ""  # why it last went down, when the daemon says

    @property
    def established(self) -> bool:
        return self.state == "Established"


def _json(text: str) -> Any:
    try:
        return json.loads(text)
    except ValueError:
        return None


def _int(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def prefix(text: str, version: int | None = None) -> str | None:
    """A route's destination as a network (a bare address is a host route; ``ip`` writes the
    default route of the ``version`` family as ``default``)."""
    if text == "default":
        return {4: "0.0.0.0/0", 6: "::/0"}.get(version or 0)
    try:
        return str(ipaddress.ip_network(text, strict=False))
    except ValueError:
        return None


# -- FRR -------------------------------------------------------------------------------------------


def frr_neighbors(text: str) -> dict[str, Peer]:
    """``vtysh -c 'show bgp vrf all neighbors json'``: peer address -> session."""
    data = _json(text)
    out: dict[str, Peer] = {}
    if not isinstance(data, dict):
        return out
    for vrf in data.values():
        if not isinstance(vrf, dict):
            continue
        for address, info in vrf.items():
            if not isinstance(info, dict) or "bgpState" not in info:
                continue  # vrfId, vrfName
            families = [f for f in (info.get("addressFamilyInfo") or {}).values() if isinstance(f, dict)]
            established = info.get("bgpState") == "Established"
            out[address] = Peer(
                state=str(info.get("bgpState")),
                uptime=info.get("bgpTimerUpString") if established else None,
                received=_total(families, "acceptedPrefixCounter", established),
                sent=_total(families, "sentPrefixCounter", established),
                last_error=str(info.get("lastResetDueTo") or ""))
    return out


def _total(families: list[dict[str, Any]], key: str, established: bool) -> int | None:
    counts = [c for f in families if (c := _int(f.get(key))) is not None]
    if counts:
        return sum(counts)
    return None if established else 0  # FRR drops the counters while the session is down


def frr_bfd(text: str) -> dict[str, str]:
    """``vtysh -c 'show bfd peers json'``: peer address -> up, down, init, ..."""
    data = _json(text)
    if not isinstance(data, list):
        return {}
    return {str(p["peer"]): str(p.get("status")) for p in data if isinstance(p, dict) and "peer" in p}


def frr_received(text: str) -> set[str]:
    """``vtysh -c 'show bgp FAMILY unicast neighbors PEER routes json'``: the accepted prefixes."""
    data = _json(text)
    routes = data.get("routes") if isinstance(data, dict) else None
    if not isinstance(routes, dict):
        return set()
    return {p for key in routes if (p := prefix(key))}


# -- BIRD 2 ----------------------------------------------------------------------------------------


def bird_protocol(text: str, name: str) -> Peer:
    """``birdc show protocols all NAME``: the BGP session of that protocol."""
    head = re.search(rf"^{re.escape(name)}\s+BGP\s+\S+\s+\S+\s+(\S+)", text, re.M)
    state = re.search(r"^\s+BGP state:\s+(\S+)", text, re.M)
    if state is None:
        return Peer("absent" if head is None else "unknown")
    established = state[1] == "Established"
    routes = re.search(r"^\s+Routes:\s+(\d+) imported, (?:(\d+) filtered, )?(\d+) exported", text, re.M)
    error = re.search(r"^\s+Last error:\s+(.*\S)", text, re.M)
    return Peer(
        state=state[1],
        uptime=f"since {head[1]}" if established and head else None,
        received=int(routes[1]) if routes else (None if established else 0),
        sent=int(routes[3]) if routes else (None if established else 0),
        last_error=error[1] if error else "")


def bird_received(text: str) -> set[str]:
    """``birdc show route protocol NAME``: the prefixes the protocol imported."""
    return {p for line in text.splitlines()
            if (m := re.match(r"([0-9a-fA-F:.]+/\d+)\s", line)) and (p := prefix(m[1]))}


def bird_bfd(text: str) -> dict[str, str]:
    """``birdc show bfd sessions``: peer address -> Up, Down, Init, AdminDown."""
    out = {}
    for line in text.splitlines():
        words = line.split()
        if len(words) > 2 and _is_address(words[0]):
            out[str(ipaddress.ip_address(words[0]))] = words[2]
    return out


def _is_address(text: str) -> bool:
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True


# -- OpenBGPD --------------------------------------------------------------------------------------


def openbgpd_neighbors(text: str) -> dict[str, Peer]:
    """``bgpctl -j show neighbor``: peer address -> session."""
    data = _json(text)
    neighbors = data.get("neighbors") if isinstance(data, dict) else None
    out: dict[str, Peer] = {}
    for n in neighbors if isinstance(neighbors, list) else []:
        if not isinstance(n, dict) or "remote_addr" not in n:
            continue
        prefixes = ((n.get("stats") or {}).get("prefixes") or {})
        established = n.get("state") == "Established"
        out[str(n["remote_addr"])] = Peer(
            state=str(n.get("state")),
            uptime=n.get("last_updown") if established else None,
            received=_int(prefixes.get("received")),
            sent=_int(prefixes.get("sent")),
            last_error=str(n.get("last_error_received") or n.get("last_error_sent")
                           or n.get("last_error") or ""))
    return out


# -- the kernel ------------------------------------------------------------------------------------


def kernel_prefixes(text: str, version: int) -> set[str]:
    """``ip -j -4|-6 route show``: the destinations the kernel forwards to (not blackholes)."""
    data = _json(text)
    out = set()
    for route in data if isinstance(data, list) else []:
        if not isinstance(route, dict) or route.get("type", "unicast") != "unicast":
            continue
        if (p := prefix(str(route.get("dst")), version)) is not None:
            out.add(p)
    return out
