"""scripts/test.sh changes the machine only as the README says: the policy-rc.d that keeps
packaged daemons from starting lives only while the packages install, and cloud-init is disabled
only where the script installed it.

The script runs in a private mount namespace whose /usr/sbin and /etc/cloud are empty, with
apt-get, dpkg-query, python3 and the virtualenv's programs replaced by stand-ins that record what
they saw.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest
from support import waits
from support.cli import ROOT

pytestmark = pytest.mark.skipif(
    os.geteuid() != 0 or shutil.which("unshare") is None,
    reason="needs root and unshare for a private /usr/sbin and /etc/cloud")

STANDINS = {
    # Whether packaged daemons could start while the packages install.
    "bin/apt-get": '#!/bin/sh\necho "apt-get $1" >> "$LOG"\n'
                   'if [ "$1" = install ]; then\n'
                   '  /usr/sbin/policy-rc.d; echo "policy-rc.d says $?" >> "$LOG"\n'
                   'fi\n',
    "bin/dpkg-query": '#!/bin/sh\n[ -n "$CLOUD_INIT_INSTALLED" ] && printf "install ok installed"\n'
                      '[ -n "$CLOUD_INIT_INSTALLED" ]\n',
    "bin/python3": '#!/bin/sh\necho "python3 $*" >> "$LOG"\n',
    "repo/.venv/bin/pip": '#!/bin/sh\n',
    "repo/.venv/bin/ruff": '#!/bin/sh\n',
    "repo/.venv/bin/python": '#!/bin/sh\necho "pytest $*" >> "$LOG"\n',
}


def run_script(tmp_path: Path, before: str = "", cloud_init_installed: bool = False,
               apt_get: str | None = None) -> tuple[subprocess.CompletedProcess[str], str, list[str]]:
    """Run scripts/test.sh; returns the run, what /usr/sbin and /etc/cloud hold after it, and the
    stand-ins' log."""
    standins = {**STANDINS, **({"bin/apt-get": apt_get} if apt_get else {})}
    for rel, text in standins.items():
        path = tmp_path / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
        path.chmod(0o755)
    shutil.copytree(ROOT / "scripts", tmp_path / "repo" / "scripts")
    shutil.copytree(ROOT / "requirements", tmp_path / "repo" / "requirements")
    log = tmp_path / "log"
    log.touch()
    script = (f"mount -t tmpfs tmpfs /usr/sbin && mount -t tmpfs tmpfs /etc/cloud && {before}"
              f"bash {tmp_path}/repo/scripts/test.sh -q; status=$?; "
              "echo '--- after'; ls -A /usr/sbin /etc/cloud; exit $status")
    env = {**os.environ, "PATH": f"{tmp_path / 'bin'}:{os.environ['PATH']}", "LOG": str(log)}
    env.pop("CLOUD_INIT_INSTALLED", None)
    if cloud_init_installed:
        env["CLOUD_INIT_INSTALLED"] = "1"
    proc = subprocess.run(["unshare", "--mount", "--propagation", "private", "sh", "-c", script],
                          env=env, capture_output=True, text=True, timeout=waits.allowance(60))
    after = proc.stdout.split("--- after\n", 1)[-1]
    return proc, after, log.read_text().splitlines()


def test_the_policy_lives_only_while_packages_install_and_cloud_init_is_kept_off(tmp_path):
    proc, after, log = run_script(tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert log == ["apt-get update", "apt-get install", "policy-rc.d says 101",
                   "python3 -m venv .venv", "pytest -m pytest -q"]
    assert "policy-rc.d" not in after
    assert "cloud-init.disabled" in after
    assert "keeps packaged daemons from starting while the test packages install" in proc.stdout
    assert "wrote /etc/cloud/cloud-init.disabled" in proc.stdout


def test_a_machine_that_has_cloud_init_keeps_it_working(tmp_path):
    proc, after, _ = run_script(tmp_path, cloud_init_installed=True)
    assert proc.returncode == 0, proc.stderr
    assert "cloud-init.disabled" not in after
    assert "cloud-init" not in proc.stdout.split("--- after")[0]


def test_a_policy_already_there_is_left_as_it_was(tmp_path):
    mine = "#!/bin/sh\\n# from the image\\nexit 101\\n"
    proc, after, log = run_script(
        tmp_path, before=f"printf '{mine}' > /usr/sbin/policy-rc.d && chmod +x /usr/sbin/policy-rc.d && ")
    assert proc.returncode == 0, proc.stderr
    assert "policy-rc.d says 101" in log
    assert "policy-rc.d" in after
    assert "policy-rc.d" not in proc.stdout.split("--- after")[0]


def test_a_failed_install_removes_the_policy_too(tmp_path):
    proc, after, _ = run_script(tmp_path, apt_get='#!/bin/sh\n[ "$1" = install ] && exit 100\nexit 0\n')
    assert proc.returncode == 100
    assert "policy-rc.d" not in after
