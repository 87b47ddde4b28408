"""Load .netdev/.network files into systemd-networkd itself, without systemd as PID 1.

networkd runs for a moment in private mount and network namespaces: the files are bind-mounted
over /etc/systemd/network, /run is a fresh tmpfs, and the only link is a new loopback, so nothing
of the machine is read or changed. What it logs about a file (``FILE:LINE: Unknown key ...``,
``Invalid address ...``) is what it would log on the router.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import tempfile
from pathlib import Path

from support import waits

NETWORKD = "/lib/systemd/systemd-networkd"
CONFIG = "/etc/systemd/network"


def available() -> bool:
    return os.geteuid() == 0 and Path(NETWORKD).exists() and Path(CONFIG).is_dir() \
        and shutil.which("unshare") is not None


def warnings(files: list[Path]) -> list[str]:
    """What systemd-networkd says about ``files`` when it loads them, one line per problem."""
    with tempfile.TemporaryDirectory(prefix="bootstrap-networkd-") as folder:
        # networkd reads its configuration after dropping to its own user
        os.chmod(folder, 0o755)
        for path in [*files, _canary(folder)]:
            if path.parent != Path(folder):
                shutil.copyfile(path, Path(folder, path.name))
            Path(folder, path.name).chmod(0o644)
        # networkd runs until stopped: long enough to read its folder, on a busy machine too
        script = (f"mount -t tmpfs tmpfs /run && mount --bind {folder} {CONFIG} && "
                  f"exec timeout {waits.allowance(2):.1f} {NETWORKD}")
        proc = subprocess.run(["unshare", "--mount", "--net", "sh", "-c", script],
                              env={**os.environ, "SYSTEMD_LOG_TARGET": "console",
                                   "SYSTEMD_LOG_LEVEL": "info"},
                              capture_output=True, text=True, timeout=waits.allowance(30))
    lines = (proc.stdout + proc.stderr).splitlines()
    about = [line for line in lines if re.match(rf"{CONFIG}/[^:]+:\d+: ", line)]
    # The canary's unknown key proves networkd read the folder; without it, silence means nothing.
    canary = [line for line in about if CANARY in line]
    assert canary, "systemd-networkd did not read the files:\n" + "\n".join(lines[-20:])
    return list(dict.fromkeys(line for line in about if CANARY not in line))


CANARY = "99-bootstrap-canary.network"


def _canary(folder: str) -> Path:
    path = Path(folder, CANARY)
    path.write_text("[Match]\nName=canary0\n\n[Network]\nCanaryKey=yes\n")
    return path
