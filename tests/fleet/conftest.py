"""The fleet fixture: four sshd containers and an inventory that points at them, rendered once."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

from fleet_hosts import Fleet, docker, scan
from fleet_site import HOSTS, Site, inventory_files
from support.cli import run_cli, write_tree
from tcp_proxy import CuttingProxy


@pytest.fixture(scope="session")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    missing = docker.available()
    if missing:
        pytest.skip(f"docker fleet: {missing}")
    daemon = docker.ensure_daemon()
    work = tmp_path_factory.mktemp("fleet")
    fleet = Fleet(work / "ssh", len(HOSTS), prefix="push")
    proxy: CuttingProxy | None = None
    try:
        fleet.start()
        nodes = dict(zip(HOSTS, fleet.nodes, strict=True))
        proxy = CuttingProxy(nodes["web2"].port)
        with fleet.known_hosts.open("a") as known:
            known.write(scan(proxy.port))
        ports = {name: node.port for name, node in nodes.items()}
        ports["web2"] = proxy.port
        inventory = write_tree(work / "inventory", inventory_files(ports, fleet.key))
        build = work / "build"
        rendered = run_cli("render", inventory, "-o", build)
        assert rendered.rc == 0, rendered.err
        yield Site(fleet, nodes, proxy, inventory, build)
    finally:
        if proxy is not None:
            proxy.close()
        fleet.remove()
        docker.stop_daemon(daemon)
