"""A rehearsal: a host and the peer it talks to, each in a lab machine, joined by a link.

A role that can be rehearsed names a ``rehearsal:`` hook in its role.yml: an object with
``name`` (the ``bootstrap lab NAME HOST`` command), ``help``, ``peer_role`` (what the second
machine plays) and ``plan(target, nic)``, which checks the host fits (one line when it does not)
and returns a plan with:

- ``peer_name``, ``summary``, ``secrets`` (values withheld from anything printed), ``service``
  (the systemd unit that must come back after a reboot);
- ``host_prepare()``: a command run on the host before its first push;
- ``peer_setup()``: a script (bytes) the peer runs with ``sh -s``, sent over SSH's input;
- ``status(on_host, on_peer)``: ``.ok``, ``.lines``, ``.established`` (the sessions are up,
  what the state before a change is awaited for) and ``.sessions`` (each session's name -> since
  when it is up, "" when it is not: a change that restarted one is told by it), from commands it
  runs on either side (each ``on_*`` runs a list of commands and returns their outputs);
- ``failover()``: ``peer_down``, ``peer_up``, ``watch`` (run on the host, prints a line each
  time what it watches changes), ``via(line)`` ("active", "passive" or None), ``detection``,
  ``detection_seconds``; or a one-line error when the host has nothing to fail over.

The lab boots both machines at once (the host listening on the link, the peer connected), waits
for cloud-init on both, prepares them, pushes the host's build with ``--apply`` as ``bootstrap
push`` would, waits for the plan's status to be all good, reboots the host once and waits again,
and with ``failover`` times the move. With ``before`` (``--from BUILD``) it rehearses a change:
the host boots from and is pushed that build first (what it runs now), its sessions are awaited
and reported, and only then the build under test is pushed, as in the change window. Every
machine it started is stopped at the end (``keep`` leaves them up), and on any error or Ctrl-C.
"""

from __future__ import annotations

import dataclasses
import os
import queue
import shutil
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bootstrap.errors import BootstrapError
from bootstrap.lab import link as links
from bootstrap.lab import seed, vm
from bootstrap.lab.state import Lab, Machine, check_host_name

# The host's second network card, as the guest names it (the image boots with net.ifnames=0).
NIC = "eth1"
MARK = "@@bootstrap-lab-output@@"
# A peer with no user-data of its own boots from this: the lab's key reaches it anyway.
PEER_USER_DATA = b"#cloud-config\nmanage_etc_hosts: true\n"
# Quiet-machine figures, multiplied by the slowdown the machine shows now.
SETTLE_SECONDS = {"kvm": 120.0, "tcg": 300.0}


@dataclass
class Options:
    host: str
    inventory: Path
    build: Path
    secrets_dir: tuple[Path, ...]
    memory: int
    boot_timeout: float | None
    failover: bool
    keep: bool
    link_port: int | None
    os_name: str
    before: Path | None = None  # the build the host runs before the change


Say = Callable[[str], None]


class Shell:
    """Commands on one lab machine over SSH, one multiplexed connection for all of them."""

    def __init__(self, lab: Lab, machine: Machine, control: Path,
                 redact: Callable[[str], str]) -> None:
        self.machine = machine
        self.files = vm.Files(lab.machine_dir(machine.host))
        self.control = control
        self.redact = redact

    def argv(self, command: str, *, mux: bool = True, timeout: int = 10) -> list[str]:
        base = vm.ssh_command(self.machine, self.files, command, connect_timeout=timeout)
        if not mux:
            return base
        return [base[0], "-o", "ControlMaster=auto", "-o",
                f"ControlPath={self.control}/%C", "-o", "ControlPersist=120", *base[1:]]

    def run(self, command: str, *, stdin: bytes | None = None, timeout: float = 120,
            check: bool = True, mux: bool = True) -> str:
        try:
            result = subprocess.run(self.argv(command, mux=mux), input=stdin,
                                    capture_output=True, timeout=timeout, check=False)
        except subprocess.TimeoutExpired:
            raise BootstrapError(f"no answer within {timeout:.0f} s to a command",
                                 host=self.machine.host) from None
        out = result.stdout.decode(errors="replace")
        if check and result.returncode != 0:
            said = self.redact(result.stderr.decode(errors="replace").strip() or out.strip())
            raise BootstrapError(f"a command failed (exit {result.returncode}): "
                                 f"{said.splitlines()[-1] if said else 'no output'}",
                                 host=self.machine.host)
        return out

    def many(self, commands: list[str]) -> list[str]:
        """Each command's output (stdout and stderr), in one round trip."""
        script = "".join(f"{c} 2>&1; printf '\\n{MARK}\\n'\n" for c in commands)
        out = self.run("sh -s", stdin=script.encode(), check=False)
        parts = out.split(f"\n{MARK}\n")
        return [*parts[:len(commands)], *[""] * (len(commands) - len(parts))][:len(commands)]

    def close(self) -> None:
        subprocess.run([*self.argv("true")[:-2], "-O", "exit", self.argv("true")[-2]],
                       capture_output=True, check=False, timeout=10)


def _check_build(build: Path, host: str, option: str) -> None:
    manifest = build / host / "manifest.json"
    if not os.path.isdir(build):
        raise BootstrapError(f"{build}: no build there; run `bootstrap render` first (or give "
                             f"{option})", host=host, key=option)
    if not os.path.isfile(manifest):
        raise BootstrapError(f"{manifest}: host {host} is not in the build; run `bootstrap "
                             f"render` first", host=host, key=option)


def _redactor(secrets: list[str]) -> Callable[[str], str]:
    values = sorted({s for s in secrets if s}, key=len, reverse=True)

    def redact(text: str) -> str:
        for value in values:
            text = text.replace(value, "(withheld)")
        return text

    return redact


def rehearse(lab: Lab, rehearsal: Any, opts: Options, say: Say) -> int:
    """Run the rehearsal of ``opts.host``; 0 when every check held."""
    from bootstrap.hosts.loader import HostLoader
    from bootstrap.render.registry import Registry

    check_host_name(opts.host)
    loader = HostLoader.open(opts.inventory, Registry, opts.secrets_dir)
    if opts.host not in loader.select(None):
        raise BootstrapError(f"{opts.host} is not in the inventory {opts.inventory}",
                             host=opts.host)
    plan = rehearsal.plan(loader.target(opts.host), NIC)
    failover = plan.failover() if opts.failover else None
    check_host_name(plan.peer_name)
    for build, option in ((opts.build, "-b"), (opts.before, "--from")):
        if build is not None:
            _check_build(build, opts.host, option)
    vm.require_qemu()
    link = links.free_link(opts.link_port)
    say(f"{opts.host}: {plan.summary}; {rehearsal.peer_role}: {plan.peer_name}")
    redact = _redactor(plan.secrets)
    control = Path(tempfile.mkdtemp(prefix="bl-", dir="/tmp"))
    started = time.monotonic()
    try:
        with _machines(lab, opts, plan, link, say) as (host, peer):
            shells = [Shell(lab, m, control, redact) for m in (host, peer)]
            try:
                return _rehearse(lab, opts, plan, failover, shells[0], shells[1], say, started)
            finally:
                for shell in shells:
                    shell.close()
    finally:
        shutil.rmtree(control, ignore_errors=True)


@contextmanager
def _machines(lab: Lab, opts: Options, plan: Any, link: links.Link, say: Say
              ) -> Iterator[tuple[Machine, Machine]]:
    """Both machines booted and through cloud-init; stopped on the way out (unless kept)."""
    from bootstrap.lab import image

    names = (opts.host, plan.peer_name)
    for name in names:
        machine = lab.recorded(name)
        if machine is not None and vm.alive(machine, vm.Files(lab.machine_dir(name))):
            say(f"{name}: {vm.stop(lab, name)} (left from an earlier run)")
    built, _ = image.build(lab, opts.os_name, say)
    accel = vm.accel(lab, built)
    word = "KVM" if accel.name == "kvm" else "software emulation (TCG)"
    say(f"lab: {word}: {accel.reason}")
    key = vm.lab_key(lab)
    host_data = _host_user_data(opts, say)
    stamp = int(time.time())
    for name, data in ((opts.host, host_data), (plan.peer_name, PEER_USER_DATA)):
        seed.write_iso(vm.Files(lab.machine_dir(name)).seed,
                       {"user-data": data, "meta-data": seed.meta_data(name, f"{name}-{stamp}")})
    started: list[str] = []
    ok = False
    try:
        boot = time.monotonic()
        # The listening side first: QEMU returns once it listens, and the peer connects to it.
        host = vm.start(lab, built, opts.host, accel_=accel, disks=0, memory=opts.memory,
                        key=key, nics=links.Link.listen(link, links.mac(1, 1)))
        started.append(opts.host)
        peer = vm.start(lab, built, plan.peer_name, accel_=accel, disks=0, memory=opts.memory,
                        key=key, nics=links.Link.connect(link, links.mac(1, 2)))
        started.append(plan.peer_name)
        for m in (host, peer):
            say(f"{m.host}: booting (QEMU PID {m.pid}, ssh 127.0.0.1:{m.ssh_port}, "
                f"{opts.memory} MB; {NIC} on the link 127.0.0.1:{link.port})")
        timeout = opts.boot_timeout or vm.READY_SECONDS[accel.name]
        _wait_all(lab, [host, peer], timeout, say, boot)
        vm.write_inventory(host, vm.Files(lab.machine_dir(opts.host)))
        ok = True
        yield host, peer
    finally:
        if not (ok and opts.keep):
            for name in reversed(started):
                said = vm.stop(lab, name)
                if ok:
                    say(f"{name}: {said}")
        elif started:
            say(f"machines kept up: {', '.join(started)} (`bootstrap lab down "
                f"{' '.join(started)}` stops them)")


def _host_user_data(opts: Options, say: Say) -> bytes:
    try:
        return seed.user_data(opts.before or opts.build, opts.host)
    except BootstrapError as exc:
        if "has no user-data" not in str(exc):
            raise
    say(f"{opts.host}: no user-data in the build: it boots the plain image, then gets its "
        f"files by push")
    return PEER_USER_DATA


def _wait_all(lab: Lab, machines: list[Machine], timeout: float, say: Say, since: float) -> None:
    errors: list[BaseException] = []

    def wait(machine: Machine) -> None:
        try:
            vm.wait_ready(lab, machine, timeout, say)
            say(f"{machine.host}: cloud-init done after {time.monotonic() - since:.0f} s")
        except BaseException as exc:  # reported below, in the caller's thread
            errors.append(exc)

    threads = [threading.Thread(target=wait, args=(m,), daemon=True) for m in machines]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if errors:
        raise errors[0]


def _rehearse(lab: Lab, opts: Options, plan: Any, failover: Any, host: Shell, peer: Shell,
              say: Say, started: float) -> int:
    settle = vm.READY_SECONDS["kvm" if host.machine.accel == "kvm" else "tcg"] / 4
    peer.run("sh -s", stdin=plan.peer_setup(), timeout=settle)
    say(f"{plan.peer_name}: VLANs and BIRD configured (keys from the router's secret files)")
    host.run(plan.host_prepare(), timeout=settle)
    before = None
    if opts.before is not None:
        # What runs now: reported, not judged (it may be what the change repairs).
        _push(lab, opts, host.machine, say, opts.before, "the build it runs now")
        at = time.monotonic()
        before = _settle(plan, host, peer, settle, lambda s: s.established)
        _print(say, before, f"before the change ({time.monotonic() - at:.0f} s to settle)",
               judged=False)
    pushed = _push(lab, opts, host.machine, say, opts.build,
                   "the change" if opts.before is not None else "")
    at = time.monotonic()
    status = _settle(plan, host, peer, settle)
    _print(say, status, f"after push --apply ({time.monotonic() - at:.0f} s to settle)")
    if before is not None:
        # Told, not judged: a session of a changed link may have to restart; one of a link the
        # change did not touch should not.
        restarted = [name for name, since in before.sessions.items()
                     if since and status.sessions.get(name) != since]
        down = [name for name, since in before.sessions.items() if not since]
        say(f"sessions the change restarted: {', '.join(restarted) or 'none'}"
            + (f" (not up before it, so not known: {', '.join(down)})" if down else ""))
    ok = pushed and status.ok

    boot_id = host.run("cat /proc/sys/kernel/random/boot_id").strip()
    host.run("systemctl reboot", check=False, mux=False, timeout=30)
    host.close()
    at = time.monotonic()
    _wait_rebooted(host, boot_id, settle * 4)
    said = host.run(f"systemctl show -p ActiveState -p SubState -p MainPID "
                    f"-p ActiveEnterTimestamp {plan.service}; systemctl is-enabled "
                    f"{plan.service}", check=False)
    unit = dict(line.split("=", 1) for line in said.splitlines() if "=" in line)
    enabled = said.strip().splitlines()[-1] if said.strip() else "unknown"
    say(f"{opts.host}: rebooted in {time.monotonic() - at:.0f} s; {plan.service}.service "
        f"{unit.get('ActiveState', '?')} ({unit.get('SubState', '?')}, {enabled}, PID "
        f"{unit.get('MainPID', '?')}) since {unit.get('ActiveEnterTimestamp', '?')}")
    ok &= unit.get("ActiveState") == "active"
    status = _settle(plan, host, peer, settle)
    _print(say, status, f"after the reboot ({time.monotonic() - at:.0f} s from reboot)")
    ok &= status.ok

    if failover is not None:
        ok &= _failover(failover, host, peer, say, settle)
    say(f"{opts.host}: rehearsal {'passed' if ok else 'FAILED'} in "
        f"{time.monotonic() - started:.0f} s")
    return 0 if ok else 1


def _push(lab: Lab, opts: Options, machine: Machine, say: Say, build: Path, what: str) -> bool:
    """``bootstrap push --apply`` of the host's files in ``build``, through the lab's connection
    to it; did it succeed? (A failed apply is reported, and the rehearsal goes on to show the
    state it left and the state after a reboot.)"""
    import fabric

    from bootstrap.fleet import pool
    from bootstrap.fleet.push import PushOptions, push_host
    from bootstrap.fleet.transport import SshOptions
    from bootstrap.hosts.model import Connection

    loaded = pool.load(opts.inventory, build, opts.host, opts.secrets_dir)
    files = vm.Files(lab.machine_dir(opts.host))
    options = PushOptions(ssh=SshOptions(known_hosts=files.known_hosts,
                                         accept_new_host_keys=False),
                          apply=True)
    target = dataclasses.replace(loaded.hosts[0], connection=Connection(
        ansible_host="127.0.0.1", ansible_port=machine.ssh_port, ansible_user=machine.user,
        ansible_ssh_private_key_file=machine.key))
    at = time.monotonic()
    result = push_host(target, loaded.registry, options, fabric.Config())
    said = result.describe()
    if build != opts.build and result.failed:
        # Push withholds the inventory's secrets from what it says; an earlier build may hold
        # others (a key the change rotates), so its failure is told without the output.
        said = (f"failed (the output is withheld: it may hold secrets of that build; push it "
                f"with bootstrap push to see it) after changing {len(result.changed)} file(s)")
    say(f"{opts.host}: push --apply{f' of {what}' if what else ''} from {build}: "
        f"{said} ({time.monotonic() - at:.0f} s; inventory fragment {files.inventory})")
    return not result.failed


def _settle(plan: Any, host: Shell, peer: Shell, timeout: float,
            done: Callable[[Any], bool] = lambda s: s.ok) -> Any:
    """The plan's status once ``done`` (all good), or the last one after ``timeout`` s."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            status = plan.status(host.many, peer.many)
        except BootstrapError:  # one SSH round trip lost on a loaded machine: ask again
            if time.monotonic() > deadline:
                raise
            time.sleep(2)
            continue
        if done(status) or time.monotonic() > deadline:
            return status
        time.sleep(2)


def _print(say: Say, status: Any, when: str, *, judged: bool = True) -> None:
    say(f"{'all good' if status.ok else 'NOT all good'} {when}:" if judged else f"state {when}:")
    for line in status.lines:
        say(f"  {line}")


def _wait_rebooted(host: Shell, boot_id: str, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    probe = (f"test \"$(cat /proc/sys/kernel/random/boot_id)\" != {boot_id} || exit 1; "
             f"systemctl is-system-running --wait >/dev/null; true")
    while time.monotonic() < deadline:
        if not vm.alive(host.machine, host.files):
            raise BootstrapError("the machine stopped while rebooting", host=host.machine.host)
        try:
            result = subprocess.run(host.argv(probe, mux=False), capture_output=True,
                                    timeout=max(5.0, deadline - time.monotonic()), check=False)
        except subprocess.TimeoutExpired:
            break
        if result.returncode == 0:
            return
        time.sleep(3)
    raise BootstrapError(f"not back within {timeout:.0f} s of a reboot", host=host.machine.host)


def _failover(plan: Any, host: Shell, peer: Shell, say: Say, timeout: float) -> bool:
    """Take the active VIF away on the peer, time the host's route moving, bring it back."""
    lines: queue.Queue[tuple[float, str]] = queue.Queue()
    watcher = subprocess.Popen(host.argv(plan.watch), stdin=subprocess.DEVNULL,
                               stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)

    def read() -> None:
        assert watcher.stdout is not None
        for line in watcher.stdout:
            lines.put((time.monotonic(), line.strip()))

    threading.Thread(target=read, daemon=True).start()
    try:
        if _until(lines, plan, "active", timeout) is None:
            say(f"failover: the route to {plan.prefix} is not via the active VIF "
                f"({plan.active}) to begin with")
            return False
        peer.run(plan.peer_down)
        down = time.monotonic()
        moved = _until(lines, plan, "passive", timeout)
        if moved is None:
            say(f"failover: the route to {plan.prefix} did not move to the passive VIF within "
                f"{timeout:.0f} s")
            peer.run(plan.peer_up, check=False)
            return False
        say(f"failover: active VLAN down on the AWS side; {plan.prefix} moved to the passive "
            f"VIF (via {plan.passive}) after {moved - down:.1f} s (detection: "
            f"{plan.detection}; measured here, SSH latency included)")
        peer.run(plan.peer_up)
        up = time.monotonic()
        back = _until(lines, plan, "active", timeout)
        if back is None:
            say(f"failover: {plan.prefix} did not come back to the active VIF within "
                f"{timeout:.0f} s")
            return False
        say(f"failover: active VLAN up again; {plan.prefix} back via {plan.active} after "
            f"{back - up:.1f} s")
        return True
    finally:
        watcher.terminate()
        try:
            watcher.wait(10)
        except subprocess.TimeoutExpired:
            watcher.kill()
            watcher.wait()


def _until(lines: queue.Queue[tuple[float, str]], plan: Any, where: str,
           timeout: float) -> float | None:
    """When a watched line first shows the route ``where`` ("active"/"passive"), or None."""
    deadline = time.monotonic() + timeout
    while (left := deadline - time.monotonic()) > 0:
        try:
            when, line = lines.get(timeout=left)
        except queue.Empty:
            return None
        if plan.via(line) == where:
            return when
    return None
