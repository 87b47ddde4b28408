"""The same checks under plain pytest with testinfra's --hosts, through bootstrap's plugin."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

from fleet_site import TOKEN, Site
from support import waits


def pytest_direct(site: Site, hosts: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    """What the README tells a pytest user to run: OpenSSH with an ssh_config naming the hosts
    as the inventory does and checking host keys strictly."""
    config = cwd / "ssh_config"
    config.write_text("".join(
        f"Host {h}\n  HostName 127.0.0.1\n  Port {site.nodes[h].port}\n"
        f"  User {'deploy' if h == 'web3' else 'root'}\n  IdentityFile {site.fleet.key}\n"
        f"  UserKnownHostsFile {site.fleet.known_hosts}\n  StrictHostKeyChecking yes\n"
        "  BatchMode yes\n" for h in hosts))
    specs = ",".join(f"ssh://{h}?controlpersist=0{'&sudo=true' if h == 'web3' else ''}"
                     for h in hosts)
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "bootstrap.verify_plugin", "-p", "no:cacheprovider",
         "--bootstrap-inventory", str(site.inventory), "--bootstrap-build", str(site.build),
         f"--hosts={specs}", f"--ssh-config={config}", "-rA"],
        cwd=cwd, capture_output=True, text=True, timeout=waits.allowance(600))


def test_checks_run_under_pytest_with_testinfra_hosts(site: Site, tmp_path: Path) -> None:
    assert site.push().rc == 0
    green = pytest_direct(site, ["web1", "web3", "db1"], tmp_path)
    assert green.returncode == 0, green.stdout + green.stderr
    assert re.search(r"\b24 passed, 3 skipped\b", green.stdout)
    assert re.search(r"PASSED \S*/app/checks\.py::test_token_file_is_private\[ssh://web3\]",
                     green.stdout)
    site.on("web1", "echo DEBUG=1 >> /etc/app/token.env")
    site.fleet.stop_node(site.nodes["db1"])
    try:
        red = pytest_direct(site, ["web1", "db1"], tmp_path)
    finally:
        site.fleet.start_node(site.nodes["db1"])
    assert red.returncode == 1, red.stdout + red.stderr
    assert "1 of 4 managed files differ from the build:" in red.stdout
    assert "/etc/app/token.env: content differs (a secret file: hashes not shown)" in red.stdout
    assert "token.env reads: TOKEN=<secret>" in red.stdout
    assert TOKEN not in red.stdout + red.stderr
    unreachable = [line for line in red.stdout.splitlines() if "UNREACHABLE" in line]
    assert len(unreachable) == 1, red.stdout
    assert re.fullmatch(r"UNREACHABLE ssh://db1: ssh: connect to host 127\.0\.0\.1 port \d+: "
                        r"Connection refused", unreachable[0])
    assert "FAILED" in red.stdout and "ssh://db1]" not in red.stdout.split("short test summary")[1]
    assert site.push("--limit", "web1").rc == 0
