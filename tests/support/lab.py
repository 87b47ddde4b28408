"""Running ``bootstrap lab`` as a user would, and reaching its machines over SSH."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from support import waits
from support.cli import ROOT


def bootstrap(*args: str | Path, seconds: float) -> subprocess.CompletedProcess[str]:
    """Run the CLI with the terminal seeing its progress lines, as a user waiting would."""
    waits.progress(f"bootstrap {' '.join(map(str, args))} (up to {waits.allowance(seconds):.0f} s)")
    return subprocess.run([sys.executable, "-m", "bootstrap", *map(str, args)], cwd=ROOT,
                          capture_output=True, text=True, timeout=waits.allowance(seconds))


def port(fragment: Path) -> str:
    """The SSH port of the inventory fragment ``lab up`` wrote."""
    for line in fragment.read_text().splitlines():
        if line.strip().startswith("ansible_port:"):
            return line.split(":")[1].strip()
    raise AssertionError(f"no ansible_port in {fragment}")


def ssh_command(lab: Path, host: str) -> list[str]:
    """ssh as root to ``host``'s machine, its host key checked against the one lab up saw."""
    folder = lab / "machines" / host
    return ["ssh", "-i", str(lab / "key" / "id_ed25519"), "-p", port(folder / "inventory.yml"),
            "-o", "BatchMode=yes", "-o", f"ConnectTimeout={int(waits.allowance(10))}",
            "-o", f"UserKnownHostsFile={folder / 'known_hosts'}", "root@127.0.0.1"]


def words(text: str) -> str:
    return " ".join(text.split())


def after_reboot(ssh: list[str], state: str, before: str) -> str | None:
    """The machine's state once it runs a boot other than ``before`` (its boot id), else None."""
    try:
        result = subprocess.run(
            [*ssh, f"test \"$(cat /proc/sys/kernel/random/boot_id)\" != {before} || exit 1; "
                   f"systemctl is-system-running --wait >/dev/null; {state}"],
            capture_output=True, text=True, timeout=waits.allowance(120))
    except subprocess.TimeoutExpired:
        return None
    return words(result.stdout) if result.returncode == 0 else None


@contextmanager
def rendered(lab: Path, hosts: str | tuple[str, ...], inventory: Path, build: Path
             ) -> Iterator[None]:
    """``inventory`` rendered into ``build``, and the machines of ``hosts`` stopped before (one
    an interrupted run left behind would be reused as "already up") and after."""
    names = (hosts,) if isinstance(hosts, str) else hosts
    bootstrap("lab", "down", *names, "--lab-dir", lab, seconds=60)
    result = bootstrap("render", inventory, "-o", build, seconds=120)
    assert result.returncode == 0, result.stderr
    try:
        yield
    finally:
        bootstrap("lab", "down", *names, "--lab-dir", lab, seconds=60)
