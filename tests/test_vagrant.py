"""The Vagrantfile: Debian's vagrant accepts it, it boots exactly the hosts that have user-data,
and the NoCloud seed it makes holds the build's user-data byte for byte."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest
from support import waits
from support.cli import ROOT, run_cli

pytestmark = pytest.mark.skipif(shutil.which("vagrant") is None, reason="vagrant not installed")


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder laid out as a user's: the Vagrantfile beside a build of the example inventory."""
    folder = tmp_path_factory.mktemp("lab")
    shutil.copy(ROOT / "Vagrantfile", folder / "Vagrantfile")
    result = run_cli("render", ROOT / "inventory", "-o", folder / "build")
    assert result.rc == 0, result.err
    return folder


def vagrant(folder: Path, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    # Vagrant's own state (~/.vagrant.d) stays inside the test's folder.
    full = {"PATH": "/usr/local/bin:/usr/bin:/bin", "VAGRANT_HOME": str(folder / ".vagrant.d"),
            "VAGRANT_CHECKPOINT_DISABLE": "1", **(env or {})}
    return subprocess.run(["vagrant", *args], cwd=folder, env=full, capture_output=True, text=True,
                          timeout=waits.allowance(300))


def instance_hosts(build: Path) -> list[str]:
    return sorted(p.parent.name for p in build.glob("*/manifest.json")
                  if any(o["dest"] == "user-data" for o in json.loads(p.read_text())["outputs"]))


def test_vagrant_validate_passes_with_one_machine_per_instance_host(lab):
    result = vagrant(lab, "validate", "--ignore-provider")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Vagrantfile validated successfully." in result.stdout
    machines = sorted(line.split()[1].rstrip(":") for line in result.stdout.splitlines()
                      if line.startswith("==> "))
    expected = instance_hosts(lab / "build")
    assert {"app01", "backup01"} <= set(expected)
    assert machines == expected
    assert "web01" not in machines  # no cloud-init role, no user-data, no VM


def test_without_a_build_vagrant_says_to_render_first(lab, tmp_path):
    result = vagrant(lab, "validate", "--ignore-provider", env={"BOOTSTRAP_BUILD": str(tmp_path)})
    assert result.returncode != 0
    assert "no host with user-data here; run `bootstrap render INVENTORY -o" in result.stderr


def test_the_nocloud_seed_holds_the_user_data_exactly(lab):
    if shutil.which("isoinfo") is None or shutil.which("cloud-localds") is None:
        pytest.skip("cloud-image-utils and genisoimage not installed")
    # The Vagrantfile's own seed function, as its `before up` trigger calls it.
    made = subprocess.run(["ruby", "-rvagrant", "-e", 'load ARGV[0]; nocloud_seed("app01")',
                           "Vagrantfile"], cwd=lab, capture_output=True, text=True,
                          timeout=waits.allowance(120))
    assert made.returncode == 0, made.stderr
    iso = lab / ".vagrant" / "bootstrap-seed" / "app01" / "seed.iso"
    info = subprocess.run(["isoinfo", "-d", "-i", iso], capture_output=True, text=True).stdout
    assert "Volume id: cidata" in info  # the label NoCloud looks for
    for name, expected in (("user-data", (lab / "build/app01/user-data").read_bytes()),
                           ("meta-data", b"instance-id: iid-vagrant-app01\nlocal-hostname: app01\n")):
        content = subprocess.run(["isoinfo", "-R", "-i", iso, "-x", f"/{name}"],
                                 capture_output=True).stdout
        assert content == expected
    assert (iso.parent.stat().st_mode & 0o777) == 0o700  # user-data may hold secrets
