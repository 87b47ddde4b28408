"""Docker for tests: a daemon started on demand, images built from Debian packages, named containers.

No registry is reachable, so every image is made with ``mmdebstrap | docker import``. Images are
tagged by a hash of their package list and built once per machine. Containers use the host's
network (no bridge in this kernel); each service listens on its own loopback port.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
import shutil
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path

from support import waits

LOCK_DIR = Path("/tmp/bootstrap-test-locks")
DOCKERD_LOG = Path("/tmp/bootstrap-test-dockerd.log")
SUITE = "bookworm"


@contextlib.contextmanager
def _lock(name: str) -> Iterator[None]:
    LOCK_DIR.mkdir(exist_ok=True)
    with open(LOCK_DIR / f"{name}.lock", "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def available() -> str | None:
    """None when docker and mmdebstrap are installed, else what is missing."""
    missing = [tool for tool in ("docker", "dockerd", "mmdebstrap") if shutil.which(tool) is None]
    return f"not installed: {', '.join(missing)}" if missing else None


def _daemon_up() -> bool:
    return subprocess.run(["docker", "info"], capture_output=True).returncode == 0


def ensure_daemon() -> subprocess.Popen[bytes] | None:
    """Start dockerd unless one answers. Returns the process only when this call started it."""
    with _lock("dockerd"):
        if _daemon_up():
            return None
        log = open(DOCKERD_LOG, "ab")  # noqa: SIM115 - lives as long as the daemon
        proc = subprocess.Popen(
            ["dockerd", "--bridge=none", "--iptables=false", "--ip6tables=false"],
            stdout=log, stderr=log, start_new_session=True,
        )
        try:
            waits.wait_for("dockerd", _daemon_up, 60, failed=lambda: None if proc.poll() is None
                           else f"exited with status {proc.returncode}")
        except AssertionError as exc:
            proc.terminate()
            raise RuntimeError(f"{exc}; see {DOCKERD_LOG}") from None
        return proc


def stop_daemon(proc: subprocess.Popen[bytes] | None) -> None:
    if proc is not None and proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=waits.allowance(30))
        except subprocess.TimeoutExpired:
            proc.kill()


def image(name: str, packages: list[str], setup: str = "") -> str:
    """Tag of a minbase Debian image with ``packages`` (and a ``setup`` shell snippet run in it)."""
    digest = hashlib.sha256("\n".join([SUITE, *sorted(packages), setup]).encode()).hexdigest()[:12]
    tag = f"bootstrap-test/{name}:{digest}"
    with _lock(f"image-{name}"):
        if subprocess.run(["docker", "image", "inspect", tag], capture_output=True).returncode == 0:
            return tag
        hooks = []
        if setup:
            hooks = ["--customize-hook", f'chroot "$1" sh -ec {_quote(setup)}']
        cmd = ["mmdebstrap", "--variant=minbase", "--quiet",
               f"--include={','.join(packages)}", *hooks, SUITE, "-"]
        waits.progress(f"building image {tag} with mmdebstrap (minutes, once per package list)")
        build = subprocess.Popen(cmd, stdout=subprocess.PIPE)
        imported = subprocess.run(["docker", "import", "-", tag], stdin=build.stdout,
                                  capture_output=True)
        build.wait()
        if build.returncode or imported.returncode:
            raise RuntimeError(f"building {tag} failed: {imported.stderr.decode()[-2000:]}")
    return tag


def _quote(text: str) -> str:
    return "'" + text.replace("'", "'\\''") + "'"


def unique(prefix: str) -> str:
    """A container or resource name no other test run will use."""
    return f"{prefix}-{os.getpid()}-{uuid.uuid4().hex[:8]}"


def run(tag: str, name: str, command: list[str], *, privileged: bool = False,
        volumes: dict[str, str] | None = None) -> str:
    """Start a detached container on the host network; returns its name."""
    args = ["docker", "run", "-d", "--name", name, "--network", "host"]
    if privileged:
        args.append("--privileged")
    for src, dst in (volumes or {}).items():
        args += ["-v", f"{src}:{dst}"]
    subprocess.run([*args, tag, *command], check=True, capture_output=True)
    return name


def remove(name: str) -> None:
    subprocess.run(["docker", "rm", "-f", name], capture_output=True)


def exec_(name: str, command: list[str], check: bool = True) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["docker", "exec", name, *command], capture_output=True, text=True,
                          check=check)
