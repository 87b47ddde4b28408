"""A pretend Linux router for the reload script: ``ip``, the three network tools, and the daemons.

The kernel here has no 802.1Q, so the reload script's decisions are checked against this model:
``python tests/dx/fakenet.py TOOL ARGS...`` acts as TOOL (``ip``, ``networkctl``,
``ifup``, ``ifdown``, ``ifquery``, ``systemctl``, ``sleep``, or a daemon's reload command) on
the links kept in ``$FAKENET/state.json`` and appends ``TOOL ARGS`` to ``$FAKENET/log``.
Each tool reads the real files the build installed and behaves as its Debian 12 version does
in what the script relies on:

- ``networkctl reload`` (files in /etc/systemd/network and /run/systemd/network) creates the
  VLAN of a new .netdev and reconfigures a link whose .network is new or changed, telling a
  changed file by its inode and time as systemd 252 does (a file written again with the same
  content is a changed one); it neither updates nor removes an existing netdev, and a VLAN
  deleted behind its back comes back only when its parent is reconfigured, with the settings
  networkd loaded first.
- netplan's generator is Debian's own (0.106), run as it is by the script: it writes
  networkd's files, and changes no link.
- ``ifup`` does nothing for an interface ifupdown has a record of; ``ifdown`` of a VLAN
  deletes it; ``ifdown`` of an interface out of its files only clears the record (0.8.41).

A new IPv6 address is tentative until the next ``sleep`` (duplicate address detection), or for
ever when it is listed in the state's ``dad_never``.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

NETWORKD = Path("/etc/systemd/network")
# networkd reads both; a file in /etc hides one of the same name in /run
NETWORK_DIRS = (NETWORKD, Path("/run/systemd/network"))
IFUPDOWN = Path("/etc/network/interfaces.d/aws-dx")
# The daemons answer as running ones do (pgrep finds them); a VM rehearsal starts them for real.
DAEMONS = ("vtysh", "frr-reload.py", "birdc", "bgpctl", "sysctl", "pgrep")


def initial(parents: dict[str, int], defaults: list[str] | None = None) -> dict[str, Any]:
    """A router whose only links are its management eth0 (the default route) and ``parents``."""
    links = {"eth0": _link(None, None, 1500, ["192.0.2.10/24"], kind="parent")}
    for name, mtu in parents.items():
        links[name] = _link(None, None, mtu, [], kind="parent")
    return {"links": links, "defaults": defaults if defaults is not None else ["eth0"],
            "ssh_dev": "eth0", "networkd_active": True, "netdevs": {}, "loaded": {},
            "ifstate": [], "dad_never": []}


def _link(parent: str | None, vlan: int | None, mtu: int, addrs: list[str],
          kind: str = "vlan") -> dict[str, Any]:
    return {"parent": parent, "vlan": vlan, "mtu": mtu, "up": True, "kind": kind,
            "addrs": {a: "ok" for a in addrs}}


def save_view(folder: Path, state: dict[str, Any]) -> None:
    """What the read-only ``ip`` commands print, one file each, for the shell wrapper to show."""
    view = folder / "view"
    if view.exists():
        for path in view.iterdir():
            path.unlink()
    else:
        view.mkdir()
    for name, link in state["links"].items():
        (view / f"{name}.link").write_text(link_line(name, link))
        (view / f"{name}.addr").write_text(addr_lines(name, link))
    (view / "default").write_text("".join(f"default via 192.0.2.1 dev {dev} proto static\n"
                                          for dev in state["defaults"]))


class Net:
    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.state = json.loads((folder / "state.json").read_text())
        self.links: dict[str, dict[str, Any]] = self.state["links"]

    def note(self, line: str) -> None:
        """A line in the log for what a tool did on its own (networkd configuring a link)."""
        with open(self.folder / "log", "a") as log:
            log.write(line + "\n")

    def save(self) -> None:
        (self.folder / "state.json").write_text(json.dumps(self.state, indent=1))
        save_view(self.folder, self.state)

    def set_addrs(self, name: str, addrs: list[str]) -> None:
        """Replace a link's addresses; a new IPv6 one starts tentative."""
        old = self.links[name]["addrs"]
        self.links[name]["addrs"] = {
            a: old.get(a, "tentative" if ":" in a else "ok") for a in addrs}

    def make_vlan(self, name: str, parent: str, vlan: int, mtu: int) -> bool:
        if parent not in self.links or name in self.links:
            return False
        self.links[name] = _link(parent, vlan, min(mtu, self.links[parent]["mtu"]), [])
        return True

    def set_mtu(self, name: str, mtu: int) -> None:
        link = self.links[name]
        # as the kernel: a VLAN's MTU stays within its parent's
        limit = self.links[link["parent"]]["mtu"] if link["parent"] in self.links else mtu
        link["mtu"] = min(mtu, limit)


def link_line(name: str, link: dict[str, Any]) -> str:
    """``ip -o -d link show dev NAME``."""
    head = f"{name}@{link['parent']}" if link["parent"] else name
    flags = "BROADCAST,MULTICAST,UP,LOWER_UP" if link["up"] else "BROADCAST,MULTICAST"
    kind = {"vlan": f"vlan protocol 802.1Q id {link['vlan']} <REORDER_HDR>",
            "parent": ""}.get(link["kind"], link["kind"])
    return (f"7: {head}: <{flags}> mtu {link['mtu']} qdisc noqueue state UP mode DEFAULT "
            f"group default qlen 1000\\    link/ether 52:54:00:12:34:56 brd ff:ff:ff:ff:ff:ff "
            f"promiscuity 0 minmtu 0 maxmtu 65535 \\    {kind} addrgenmode eui64\n")


def addr_lines(name: str, link: dict[str, Any]) -> str:
    """``ip -o addr show dev NAME``: a 169.254.0.0/16 address in scope link, as networkd may set it."""
    out = []
    for addr, dad in [*link["addrs"].items(), ("fe80::5054:ff:fe12:3456/64", "ok")]:
        family = "inet6" if ":" in addr else "inet"
        scope = "link" if addr.startswith(("fe80", "169.254")) else "global"
        flag = " tentative" if dad == "tentative" else ""
        out.append(f"7: {name}    {family} {addr} scope {scope}{flag} {name}\\       "
                   "valid_lft forever preferred_lft forever\n")
    return "".join(out)


def ip(net: Net, args: list[str]) -> int:
    """What the shell wrapper does not answer from the view (see :func:`install`)."""
    words = [a for a in args if a not in ("-o", "-d", "-6")]
    if words[:2] == ["route", "get"]:
        print(f"{words[2]} via 192.0.2.1 dev {net.state['ssh_dev']} src 192.0.2.10 uid 0 \\    cache")
        return 0
    if words[:3] == ["link", "delete", "dev"]:
        if net.links.pop(words[3], None) is None:
            print(f'Cannot find device "{words[3]}"', file=sys.stderr)
            return 1
        return 0
    if words[:3] == ["link", "set", "dev"] and words[4] == "mtu":
        net.set_mtu(words[3], int(words[5]))
        return 0
    print(f"fakenet: ip {' '.join(args)}: not modelled", file=sys.stderr)
    return 2


def _ini(path: Path) -> dict[str, list[str]]:
    """KEY -> values of a networkd file (sections do not matter here)."""
    out: dict[str, list[str]] = {}
    for line in path.read_text().splitlines():
        key, sep, value = line.partition("=")
        if sep and not line.startswith("#"):
            out.setdefault(key.strip(), []).append(value.strip())
    return out


def _stamp(path: Path) -> str:
    """What networkd compares to tell a changed file: its inode and its time."""
    st = path.stat()
    return f"{st.st_ino}:{st.st_mtime_ns}"


def _networkd_files(suffix: str) -> list[Path]:
    """networkd's files of one kind, in the order it reads them (by name; /etc before /run)."""
    found: dict[str, Path] = {}
    for folder in NETWORK_DIRS:
        for path in folder.glob(f"*{suffix}") if folder.is_dir() else []:
            found.setdefault(path.name, path)
    return [found[name] for name in sorted(found)]


def _network_of(name: str) -> Path | None:
    """The .network file networkd matches link ``name`` with (the first by name)."""
    return next((p for p in _networkd_files(".network") if _ini(p)["Name"][0] == name), None)


def _networkd_configure(net: Net, name: str) -> None:
    """What networkd does to a link when it (re)configures it from its .network file."""
    path = _network_of(name)
    if path is None or name not in net.links:
        return
    # Logged: a link configured again loses its addresses for a moment, and its sessions with them.
    net.note(f"networkd configures {name}")
    keys = _ini(path)
    if "MTUBytes" in keys:
        net.set_mtu(name, int(keys["MTUBytes"][0]))
    if net.links[name]["kind"] == "vlan":
        net.set_addrs(name, keys.get("Address", []))
    for vlan in keys.get("VLAN", []):
        netdev = net.state["netdevs"].get(vlan)  # as loaded first: networkd keeps it
        if netdev and net.make_vlan(vlan, name, netdev["vlan"], netdev["mtu"]):
            _networkd_configure(net, vlan)


def networkctl(net: Net, args: list[str]) -> int:
    if args == ["reload"]:
        changed = []
        for path in _networkd_files(".network"):
            if net.state["loaded"].get(str(path)) != _stamp(path):
                net.state["loaded"][str(path)] = _stamp(path)
                changed.append(_ini(path)["Name"][0])
        for path in _networkd_files(".netdev"):
            keys = _ini(path)
            name = keys["Name"][0]
            if name not in net.state["netdevs"]:
                net.state["netdevs"][name] = {"vlan": int(keys["Id"][0]),
                                              "mtu": int(keys["MTUBytes"][0])}
        for name in changed:
            if name in net.links:
                _networkd_configure(net, name)
        return 0
    if args and args[0] == "reconfigure":
        for name in args[1:]:
            if name not in net.links:
                print(f"Failed to resolve interface \"{name}\"", file=sys.stderr)
                return 1
            _networkd_configure(net, name)
        return 0
    return 2


def _stanzas() -> dict[str, dict[str, Any]]:
    """Interface -> {"addrs": [...], "mtu": N} from the ifupdown file."""
    out: dict[str, dict[str, Any]] = {}
    current: dict[str, Any] | None = None
    for line in IFUPDOWN.read_text().splitlines() if IFUPDOWN.exists() else []:
        words = line.split()
        if words[:1] == ["iface"]:
            current = out.setdefault(words[1], {"addrs": [], "mtu": None})
        elif current is not None and words[:1] == ["address"]:
            current["addrs"].append(words[1])
        elif current is not None and words[:1] == ["mtu"]:
            current["mtu"] = int(words[1])
    return out


def ifup(net: Net, args: list[str]) -> int:
    name = args[-1]
    stanza = _stanzas().get(name)
    if stanza is None:
        print(f"ifup: unknown interface {name}", file=sys.stderr)
        return 1
    if name in net.state["ifstate"]:
        print(f"ifup: interface {name} already configured", file=sys.stderr)
        return 0
    if "." in name:
        parent, vlan = name.rsplit(".", 1)
        if name not in net.links and not net.make_vlan(name, parent, int(vlan), stanza["mtu"]):
            print(f"ifup: failed to bring up {name}", file=sys.stderr)
            return 1
        net.set_addrs(name, stanza["addrs"])
    if stanza["mtu"]:
        net.set_mtu(name, stanza["mtu"])
    net.state["ifstate"].append(name)
    return 0


def ifdown(net: Net, args: list[str]) -> int:
    name = args[-1]
    if name not in _stanzas():
        if name in net.state["ifstate"]:
            net.state["ifstate"].remove(name)
        print(f"ifdown: ignoring unknown interface {name}={name}", file=sys.stderr)
        return 0
    if name not in net.state["ifstate"] and "--force" not in args:
        print(f"ifdown: interface {name} not configured", file=sys.stderr)
        return 0
    if "." in name:
        net.links.pop(name, None)
    if name in net.state["ifstate"]:
        net.state["ifstate"].remove(name)
    return 0


def ifquery(net: Net, args: list[str]) -> int:
    name = args[-1]
    if "--state" in args:
        if name in net.state["ifstate"]:
            print(f"{name}={name}")
            return 0
        return 1
    return 0 if name in _stanzas() else 1


def systemctl(net: Net, args: list[str]) -> int:
    if args[:2] == ["is-active", "--quiet"] and args[2] == "systemd-networkd.service":
        return 0 if net.state["networkd_active"] else 3
    return 2


def sleep(net: Net, args: list[str]) -> int:
    for link in net.links.values():
        for addr in link["addrs"]:
            if addr not in net.state["dad_never"]:
                link["addrs"][addr] = "ok"
    return 0


TOOLS = {"ip": ip, "networkctl": networkctl, "ifup": ifup,
         "ifdown": ifdown, "ifquery": ifquery, "systemctl": systemctl, "sleep": sleep}


# The script asks ``ip`` about links many times a second while it waits: the shell answers those
# questions from the view, the model only what changes something.
_IP = r"""#!/bin/sh
echo "ip $*" >> FOLDER/log
view=FOLDER/view
case "$*" in
  "-o -d link show dev "*|"-o addr show dev "*)
    if [ "$1 $2" = "-o -d" ]; then f=$view/$6.link; else f=$view/$5.addr; fi
    if [ ! -f "$f" ]; then echo "Device \"${f##*/}\" does not exist." >&2; exit 1; fi
    cat "$f" ;;
  "-o route show default") cat "$view/default" ;;
  "-o -6 route show default") ;;
  *) exec PYTHON MODEL FOLDER ip "$@" ;;
esac
"""


def install(folder: Path, bindir: Path) -> None:
    """Put a wrapper for every tool in ``bindir`` (first on the script's PATH)."""
    bindir.mkdir(parents=True, exist_ok=True)
    model = Path(__file__).resolve()
    for tool in [*TOOLS, *DAEMONS]:
        wrapper = bindir / tool
        if tool == "ip":
            text = _IP.replace("FOLDER", str(folder)).replace("PYTHON", sys.executable) \
                .replace("MODEL", str(model))
        else:
            text = f"#!/bin/sh\nexec {sys.executable} {model} {folder} {tool} \"$@\"\n"
        wrapper.write_text(text)
        wrapper.chmod(0o755)


def main() -> int:
    folder, tool, args = Path(sys.argv[1]), sys.argv[2], sys.argv[3:]
    with open(folder / "log", "a") as log:
        log.write(" ".join([tool, *args]) + "\n")
    if tool in DAEMONS:
        return 0
    net = Net(folder)
    code = TOOLS[tool](net, args)
    net.save()
    return code


if __name__ == "__main__":
    sys.exit(main())
