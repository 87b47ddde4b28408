"""``bootstrap lab dx`` refuses what it cannot rehearse in one line, before any machine boots: a
host that is not a Linux Direct Connect router, a router whose VIFs are not on the lab's link
(eth1), a build (or the ``--from`` build of a change) missing or without the router, QEMU
missing, a link port taken, and --failover on a router with nothing to fail over to. No machine
folder is left behind."""

from __future__ import annotations

import os
import socket
from pathlib import Path
from typing import Any

import pytest
from dx.routers import KEYS, router, write_inventory
from support.cli import one_error, run_cli, write_tree


def _router(**top: Any) -> dict[str, Any]:
    dx = router("frr", interface="eth1", **top)
    for vif in dx["vifs"]:
        vif["accept"] = {"ipv4": ["10.100.0.0/16"], "ipv6": ["2600:1f18:100::/56"]}
    return dx


def _rendered(tmp_path: Path, dx: dict[str, Any]) -> tuple[Path, Path]:
    inventory = write_inventory(tmp_path / "inv", {"r1": dx})
    build = tmp_path / "build"
    result = run_cli("render", inventory, "-o", build)
    assert result.rc == 0, result.err
    return inventory, build


def _dx(tmp_path: Path, *args: str | Path, env: dict[str, str | None] | None = None) -> Any:
    return run_cli("lab", "dx", *args, "--lab-dir", tmp_path / "lab", env=env)


def _no_machine(tmp_path: Path) -> None:
    machines = tmp_path / "lab" / "machines"
    assert not machines.exists() or list(machines.iterdir()) == []


@pytest.mark.parametrize(("dx", "words"), [
    (router("ios-xe"), ("host r1", "key dx.platform", "platform ios-xe is not a Linux router",
                        "bird, frr, openbgpd")),
    (router("frr"), ("host r1", "key dx.interface", "second network card, eth1", "eth0")),
    (router("bird", interface="eth1") | {"vifs": [
        router("bird", interface="eth1")["vifs"][0],
        router("bird", interface="eth1")["vifs"][1] | {"interface": "eth2"}]},
     ("key dx.vifs.1.interface", "eth2 is not it")),
])
def test_a_router_the_lab_cannot_join_is_named(tmp_path: Path, dx: dict[str, Any],
                                                words: tuple[str, ...]) -> None:
    inventory, build = _rendered(tmp_path, dx)
    one_error(_dx(tmp_path, "r1", "-i", inventory, "-b", build), *words)
    _no_machine(tmp_path)


def test_a_host_without_the_router_role_or_not_in_the_inventory(tmp_path: Path) -> None:
    inventory = write_tree(tmp_path / "inv", {"hosts.yml": """
        all:
          hosts:
            web1:
              bootstrap_roles: [cloud-init]
              cloud_init: {runcmd: [echo hi]}
        """})
    build = tmp_path / "build"
    assert run_cli("render", inventory, "-o", build).rc == 0
    one_error(_dx(tmp_path, "web1", "-i", inventory, "-b", build), "host web1",
              "is not a Direct Connect router")
    one_error(_dx(tmp_path, "r9", "-i", inventory, "-b", build), "r9 is not in the inventory")
    _no_machine(tmp_path)


def test_a_missing_build_or_a_router_not_rendered_is_named(tmp_path: Path) -> None:
    inventory, _build = _rendered(tmp_path, _router())
    one_error(_dx(tmp_path, "r1", "-i", inventory, "-b", tmp_path / "nowhere"),
              "no build there", "bootstrap render")
    other = write_tree(tmp_path / "other-build", {"web1/manifest.json": "{}\n"})
    one_error(_dx(tmp_path, "r1", "-i", inventory, "-b", other), "host r1 is not in the build")
    # The build the change starts from, checked the same way and named by its option.
    one_error(_dx(tmp_path, "r1", "-i", inventory, "-b", _build, "--from", tmp_path / "gone"),
              "no build there", "key --from")
    one_error(_dx(tmp_path, "r1", "-i", inventory, "-b", _build, "--from", other),
              "host r1 is not in the build", "key --from")
    _no_machine(tmp_path)


def test_qemu_missing_is_named(tmp_path: Path) -> None:
    inventory, build = _rendered(tmp_path, _router())
    empty = tmp_path / "bin"
    empty.mkdir()
    one_error(_dx(tmp_path, "r1", "-i", inventory, "-b", build, env={"PATH": str(empty)}),
              "qemu-system-x86_64 is not installed", "qemu-system-x86")
    _no_machine(tmp_path)


def test_a_link_port_taken_is_named(tmp_path: Path) -> None:
    inventory, build = _rendered(tmp_path, _router())
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        line = one_error(_dx(tmp_path, "r1", "-i", inventory, "-b", build, "--link-port",
                             str(port)), "key --link-port", f"port {port}", "taken")
    assert "--link-port" in line
    one_error(_dx(tmp_path, "r1", "-i", inventory, "-b", build, "--link-port", "80"),
              "1024 to 65535")
    _no_machine(tmp_path)


def test_failover_with_nothing_to_fail_over_to_is_named(tmp_path: Path) -> None:
    dx = _router()
    dx["vifs"] = dx["vifs"][:1]  # the active VIF alone
    inventory, build = _rendered(tmp_path, dx)
    one_error(_dx(tmp_path, "r1", "-i", inventory, "-b", build, "--failover"),
              "key dx.vifs", "--failover", "an active and a passive VIF")
    one_error(_dx(tmp_path, "r1", "-i", inventory, "-b", build, "--failover", "--link-port",
                  "80"), "1024 to 65535")
    _no_machine(tmp_path)


def test_no_secret_reaches_an_error(tmp_path: Path) -> None:
    inventory, build = _rendered(tmp_path, _router())
    empty = tmp_path / "bin"
    empty.mkdir()
    result = _dx(tmp_path, "r1", "-i", inventory, "-b", build, env={"PATH": str(empty)})
    for key in KEYS.values():
        assert key not in result.out + result.err
    assert os.path.isfile(inventory / "secrets" / "vif101.key")
