"""Live BGP with MD5: the rendered FRR, BIRD and OpenBGPD configs peer with an AWS side in network
namespaces, and AWS receives exactly what the inventory says, tagged as AWS expects."""

from __future__ import annotations

import re
import shutil
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from dx.live import ESTABLISH_TIMEOUT, Topology, established, sh, wait_for
from dx.routers import changed, write_inventory
from support import waits
from support.cli import ROOT, run_cli

from bootstrap.fleet.checks import load_module
from bootstrap.roles.dx_router import capabilities

PLATFORMS = ("frr", "bird", "openbgpd")


# loaded as verify loads it
CHECKS = load_module("dx-router", ROOT / "roles/dx-router/checks.py")


@pytest.fixture(scope="module", params=PLATFORMS)
def topology(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Topology]:
    platform = request.param
    with established(platform, tmp_path_factory.mktemp(f"dx-{platform}")) as (topo, _inventory):
        yield topo


def test_every_session_established_with_md5(topology: Topology) -> None:
    # The AWS side requires the key, so Established means both ends signed with the same key.
    states = {s.name: topology.aws_state(s) for s in topology.sessions()}
    assert states == {"vlan101_v4": "Established", "vlan101_v6": "Established",
                      "vlan102_v4": "Established"}


def test_aws_receives_exactly_the_advertised_prefixes_tagged(topology: Topology) -> None:
    sessions = {s.name: s for s in topology.sessions()}

    def routes(name: str) -> dict[str, dict[str, str]]:
        return wait_for(f"routes on {name}", lambda: topology.aws_routes(sessions[name]), 15)

    active4, active6, passive4 = routes("vlan101_v4"), routes("vlan101_v6"), routes("vlan102_v4")
    assert sorted(active4) == ["10.20.0.0/16", "10.21.0.0/16"]
    assert sorted(active6) == ["2001:db8:100::/48"]
    assert sorted(passive4) == ["10.20.0.0/16", "10.21.0.0/16"]
    for attrs in [*active4.values(), *active6.values()]:
        assert attrs["BGP.community"] == "(7224,7300)"
        assert attrs["BGP.as_path"] == "65000"
    for attrs in passive4.values():
        assert attrs["BGP.community"] == "(7224,7100)"
        assert attrs["BGP.as_path"] == "65000 65000 65000"  # prepend: 2


def test_bfd_up_where_enabled(topology: Topology) -> None:
    if topology.platform == "openbgpd":
        pytest.skip("OpenBGPD has no BFD (the example acknowledges nothing, so none is asked)")
    up = wait_for("BFD up on the AWS side", lambda: (
        {"169.254.10.2", "2600:1f00:1::3"} <= topology.aws_bfd_up() and topology.aws_bfd_up()), 15)
    assert "169.254.11.2" not in up  # the passive VIF asks for no BFD


def test_routes_from_aws_reach_the_kernel_as_the_capability_table_says(topology: Topology) -> None:
    """AWS's route, learned on both VIFs, goes to the kernel via the active VIF only."""
    def kernel_route() -> bool:
        routes = sh("ip", "-n", topology.customer_ns, "route").stdout  # FRR adds "nhid N"
        return re.search(r"^10\.100\.0\.0/16 .*via 169\.254\.10\.1 dev dxp\.101 ", routes, re.M) \
            is not None

    if gap := capabilities.FEATURES_BY_TITLE["Routes from AWS installed in the kernel"].missing_on(
            topology.platform):
        time.sleep(waits.allowance(2))
        assert not kernel_route(), f"the table says: {gap}; update it"
    else:
        wait_for("the AWS route in the customer's kernel", kernel_route, 15)


@pytest.mark.parametrize("check", [n for n in dir(CHECKS) if n.startswith("test_")])
def test_role_check_passes_on_the_live_router(topology: Topology, check: str) -> None:
    """The dx-router role's own checks, as verify runs them, against the running router."""
    manifest = {"host": f"live-{topology.platform}", "roles": ["dx-router"]}
    function = getattr(CHECKS, check)
    fixtures = {"host": topology.host(), "hostvars": {"dx": topology.dx}, "manifest": manifest,
                "record_property": lambda name, value: None}
    names = function.__code__.co_varnames[:function.__code__.co_argcount]
    deadline = time.monotonic() + waits.allowance(15)
    while True:  # BFD and route exchange settle a moment after Established
        try:
            function(**{n: fixtures[n] for n in names})
            return
        except (AssertionError, pytest.fail.Exception):
            if time.monotonic() > deadline:
                raise
            time.sleep(0.5)


def test_wrong_key_keeps_the_session_down(topology: Topology) -> None:
    passive = next(s for s in topology.sessions() if s.name == "vlan102_v4")
    failures = topology.md5_failures()
    topology.configure_aws(wrong_key_for=passive.name)
    try:
        wait_for("the session to drop", lambda: topology.aws_state(passive) != "Established", 15)
        deadline = time.monotonic() + 6  # watching that it stays down: not a wait
        while time.monotonic() < deadline:
            assert topology.aws_state(passive) != "Established"
            time.sleep(0.5)
        assert topology.md5_failures() > failures  # the kernel dropped segments signed with the other key
        down = r"dxvif-fgabc102 IPv4 169\.254\.11\.1: \w+, not Established"
        with pytest.raises(pytest.fail.Exception, match=down):
            CHECKS.test_vif_sessions(topology.host(), {"dx": topology.dx}, {}, lambda name, value: None)
    finally:
        topology.configure_aws()
    wait_for("the session back up", lambda: topology.aws_state(passive) == "Established", ESTABLISH_TIMEOUT)


def test_rendered_reload_script_makes_the_running_daemon_take_a_new_config(
        topology: Topology, tmp_path: Path) -> None:
    """What `push --apply` does on a router: new config in place, then the role's reload script."""
    platform = topology.platform
    dx = changed(topology.dx, "vifs.0.advertise.ipv4", ["10.20.0.0/16", "10.21.0.0/16", "10.22.0.0/16"])
    name = f"live-{platform}"
    result = run_cli("render", write_inventory(tmp_path / "inv", {name: dx}), "-o", tmp_path / "build")
    assert result.rc == 0, result.err
    files = tmp_path / "build" / name / "files"
    if platform == "openbgpd":
        live = topology.build / "files/etc/bgpd.conf"  # bgpd reloads the file it started with
        shutil.copy2(files / "etc/bgpd.conf", live)
    else:
        for path in (files / "etc" / platform).iterdir():
            shutil.copy2(path, topology.workdir / "etc" / path.name)
    script = (files / "usr/local/sbin/bootstrap-dx-reload").read_text()
    assert topology.holder is not None
    sh("nsenter", "-t", str(topology.holder.pid), "-m", "-n", "--", "sh", "-c", script,
       timeout=60)  # stretched by sh()
    active = next(s for s in topology.sessions() if s.name == "vlan101_v4")
    wait_for("the new prefix at AWS",
             lambda: "10.22.0.0/16" in topology.aws_routes(active), ESTABLISH_TIMEOUT)
    assert sorted(topology.aws_routes(active)) == ["10.20.0.0/16", "10.21.0.0/16", "10.22.0.0/16"]
