"""``bootstrap lab``: boot the build's hosts in local virtual machines and check them there.

``lab image`` builds the image once; ``lab up HOST...`` boots each host from its build's exact
user-data and waits for cloud-init's final stage; ``lab verify HOST...`` runs the roles' checks
on them (booting those not up); ``lab down HOST...|--all`` stops the lab's machines and removes
their disks. A machine's inventory fragment points ``bootstrap push`` and ``bootstrap verify``
at it unchanged.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import sys
import time
from pathlib import Path
from typing import Any

from bootstrap.commands.push import add_connection_arguments
from bootstrap.errors import BootstrapError
from bootstrap.hosts.secrets import add_secrets_dir_option

HELP = "boot the build's hosts in local virtual machines from their exact user-data"
DEFAULT_MEMORY = 768
MAX_DISKS = 8


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="lab_command", required=True, metavar="ACTION")
    image = sub.add_parser("image", help="build the lab's bootable image (once per recipe)")
    _common(image)

    up = sub.add_parser("up", help="boot hosts from their build's user-data and wait for "
                                   "cloud-init's final stage")
    up.add_argument("hosts", nargs="+", metavar="HOST")
    up.add_argument("-b", "--build", default="build", type=Path, metavar="DIR",
                    help="build directory written by bootstrap render (default: build)")
    up.add_argument("-i", "--inventory", type=Path, metavar="PATH",
                    help="attach the disks the hosts' settings name (cloud_init.raid1, "
                         "aws.ebs_volumes) as blank disks under those names")
    add_secrets_dir_option(up)
    _machine_options(up)
    _common(up)

    verify = sub.add_parser("verify", help="run the roles' checks on hosts in the lab "
                                           "(booting those not up)")
    verify.add_argument("hosts", nargs="+", metavar="HOST")
    verify.add_argument("-i", "--inventory", default="inventory", type=Path, metavar="PATH",
                        help="inventory the hosts' settings come from (default: inventory)")
    verify.add_argument("--json", metavar="FILE", type=Path, help="write the results as JSON")
    verify.add_argument("--junit", metavar="FILE", type=Path,
                        help="write the results as JUnit XML (one test suite per host)")
    add_connection_arguments(verify)
    _machine_options(verify)
    _common(verify)

    down = sub.add_parser("down", help="stop the lab's machines and remove their disks")
    down.add_argument("hosts", nargs="*", metavar="HOST")
    down.add_argument("--all", action="store_true", help="every machine of the lab")
    _common(down)

    for name, rehearsal in _rehearsals().items():
        _rehearsal_parser(sub, name, rehearsal)


def _rehearsals() -> dict[str, Any]:
    """The rehearsals the built-in roles offer (role.yml ``rehearsal:``), by command name."""
    from bootstrap.render.registry import Registry

    found = {}
    for role in Registry(None).declaring("rehearsal"):
        if "rehearsal" in role.refs:
            rehearsal = role.hook("rehearsal")
            found[rehearsal.name] = rehearsal
    return found


def _rehearsal_parser(sub: Any, name: str, rehearsal: Any) -> None:
    parser = sub.add_parser(name, help=rehearsal.help, description=rehearsal.help)
    parser.add_argument("host", metavar="HOST")
    parser.add_argument("-i", "--inventory", default="inventory", type=Path, metavar="PATH",
                        help="inventory the host's settings come from (default: inventory)")
    parser.add_argument("-b", "--build", default="build", type=Path, metavar="DIR",
                        help="build directory written by bootstrap render (default: build)")
    parser.add_argument("--from", dest="before", type=Path, metavar="DIR",
                        help="rehearse a change: boot from and push this build first (what the "
                             "host runs now), then push the build of -b")
    parser.add_argument("--failover", action="store_true",
                        help="also take the active path away on the peer and time the move to "
                             "the passive one, then bring it back")
    parser.add_argument("--keep", action="store_true",
                        help="leave both machines up afterwards (lab down stops them)")
    parser.add_argument("--link-port", type=int, metavar="PORT",
                        help="loopback TCP port of the link between the machines (default: a "
                             "free one)")
    _size_options(parser)
    add_secrets_dir_option(parser)
    _common(parser)
    parser.set_defaults(rehearsal=rehearsal)


def _common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--lab-dir", type=Path, metavar="DIR",
                        help="the lab's folder: images, machines, key (default: "
                             "$BOOTSTRAP_LAB_DIR or $XDG_CACHE_HOME/bootstrap/lab)")
    parser.add_argument("--os", default="debian-12", choices=("debian-12",),
                        help="system of the image (default: debian-12)")


def _machine_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--disks", type=_disks, default=0, metavar="N",
                        help=f"blank 1 GiB virtio disks beside the root disk (0 to {MAX_DISKS}); "
                             f"the guest sees /dev/vdc... and /dev/disk/by-id/virtio-lab-dataN")
    parser.add_argument("--disk", dest="disk_names", action="append", default=[], metavar="NAME",
                        help="a blank disk the guest also knows as NAME (/dev/nvme1n1, "
                             "/dev/disk/by-id/...), so user-data naming EC2 volumes runs "
                             "unchanged; repeat for each (counts toward --disks)")
    _size_options(parser)


def _size_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--memory", type=_memory, default=DEFAULT_MEMORY, metavar="MB",
                        help=f"memory of each machine (default: {DEFAULT_MEMORY})")
    parser.add_argument("--boot-timeout", type=float, metavar="SECONDS",
                        help="longest wait for cloud-init's final stage (default: 300 with "
                             "KVM, 1200 with software emulation)")


def _disks(text: str) -> int:
    value = int(text)
    if not 0 <= value <= MAX_DISKS:
        raise argparse.ArgumentTypeError(f"must be 0 to {MAX_DISKS}")
    return value


def _memory(text: str) -> int:
    value = int(text)
    if not 256 <= value <= 65536:
        raise argparse.ArgumentTypeError("must be 256 to 65536")
    return value


def _say(message: str) -> None:
    print(message, flush=True)


def run(args: argparse.Namespace) -> int:
    from bootstrap.lab.state import Lab

    lab = Lab(args.lab_dir)
    if getattr(args, "rehearsal", None) is not None:
        return _rehearse(lab, args)
    action = {"image": _image, "up": _up, "verify": _verify, "down": _down}[args.lab_command]
    return action(lab, args)


def _rehearse(lab, args: argparse.Namespace) -> int:  # type: ignore[no-untyped-def]
    from bootstrap.lab import rehearse

    if args.link_port is not None and not 1024 <= args.link_port <= 65535:
        raise BootstrapError(f"--link-port {args.link_port}: give a port of 1024 to 65535",
                             key="--link-port")
    opts = rehearse.Options(
        host=args.host, inventory=args.inventory, build=args.build,
        secrets_dir=tuple(args.secrets_dir), memory=args.memory, boot_timeout=args.boot_timeout,
        failover=args.failover, keep=args.keep, link_port=args.link_port, os_name=args.os,
        before=args.before)
    return rehearse.rehearse(lab, args.rehearsal, opts, _say)


def _image(lab, args: argparse.Namespace) -> int:  # type: ignore[no-untyped-def]
    from bootstrap.lab import image

    found, built = image.build(lab, args.os, _say)
    if not built:
        _say(f"image {found.folder.name} is already built: {found.folder}")
    return 0


def _up(lab, args: argparse.Namespace) -> int:  # type: ignore[no-untyped-def]
    if args.inventory is not None and not args.disk_names:
        from bootstrap.render.registry import Registry

        loader = _loader(args.inventory, tuple(args.secrets_dir), args.hosts, Registry)
        for host in args.hosts:
            _ensure_up(lab, args, host, _disks_of(loader.target(host), loader.roles))
        return 0
    for host in args.hosts:
        _ensure_up(lab, args, host)
    return 0


def _loader(inventory: Path, secrets: tuple[Path, ...], hosts: list[str], registry: Any) -> Any:
    from bootstrap.hosts.loader import HostLoader

    loader = HostLoader.open(inventory, registry, secrets)
    missing = sorted(set(hosts) - set(loader.select(None)))
    if missing:
        raise BootstrapError(f"not in the inventory {inventory}: {', '.join(missing)}")
    return loader


def _disks_of(target: Any, registry: Any) -> tuple[str, ...]:
    """The device names the host's roles expect (role.yml ``disks:``), each once, in order."""
    from bootstrap.render.hooks import of_host

    names: dict[str, None] = {}
    for _role, disks, settings in of_host(registry, target, "disks"):
        names.update(dict.fromkeys(disks(target, settings)))
    if len(names) > MAX_DISKS:
        raise BootstrapError(f"the settings name {len(names)} disks; the lab attaches at most "
                             f"{MAX_DISKS}", host=target.name)
    return tuple(names)


def _ensure_up(lab, args: argparse.Namespace, host: str,  # type: ignore[no-untyped-def]
               from_settings: tuple[str, ...] = ()):
    """``host``'s machine, booted now unless it is already up, with the blank disks --disk
    names, or else those its settings name."""
    from bootstrap.lab import image, seed, vm
    from bootstrap.lab.state import check_host_name

    check_host_name(host)
    if len(args.disk_names) > MAX_DISKS:
        raise BootstrapError(f"--disk: at most {MAX_DISKS} disks", key="--disk")
    disk_names = tuple(args.disk_names) or from_settings
    for name in args.disk_names:
        vm.check_disk_name(name)
    for name in disk_names[len(args.disk_names):]:
        try:
            vm.check_disk_name(name)
        except BootstrapError:
            raise BootstrapError(f"the settings name the disk {name}, which a lab machine cannot "
                                 f"have (its own disks are /dev/vd*): name the disks with --disk",
                                 host=host) from None
    data = seed.user_data(args.build, host)  # before anything boots: no user-data, no machine
    vm.require_qemu()
    files = vm.Files(lab.machine_dir(host))
    running = lab.recorded(host)
    if running is not None and vm.alive(running, files):
        _say(f"{host}: already up (QEMU PID {running.pid}, ssh 127.0.0.1:{running.ssh_port})")
        return running
    built, _ = image.build(lab, args.os, _say)
    accel = vm.accel(lab, built)
    word = "KVM" if accel.name == "kvm" else "software emulation (TCG)"
    _say(f"lab: {word}: {accel.reason}")
    key = vm.lab_key(lab)
    instance = f"{host}-{int(time.time())}"
    seed.write_iso(files.seed, {"user-data": data, "meta-data": seed.meta_data(host, instance)})
    started = time.monotonic()
    disks = max(args.disks, len(disk_names))
    machine = vm.start(lab, built, host, accel_=accel, disks=disks, memory=args.memory, key=key,
                       disk_names=disk_names)
    _say(f"{host}: booting (QEMU PID {machine.pid}, ssh 127.0.0.1:{machine.ssh_port}, "
         f"{args.memory} MB, {disks} extra disk{'s' if disks != 1 else ''})")
    timeout = args.boot_timeout or vm.READY_SECONDS[accel.name]
    try:
        vm.wait_ready(lab, machine, timeout, _say)
    except vm.CloudInitFailed:
        raise
    except BaseException:  # a timeout, a machine that died, Ctrl-C: none is left running
        vm.stop(lab, host)
        raise
    vm.write_inventory(machine, files)
    _say(f"{host}: cloud-init done after {time.monotonic() - started:.0f} s")
    _say(f"{host}: inventory fragment {files.inventory}, host keys {files.known_hosts}")
    return machine


def _verify(lab, args: argparse.Namespace) -> int:  # type: ignore[no-untyped-def]
    from bootstrap.commands.verify import verify_fleet
    from bootstrap.fleet import pool
    from bootstrap.hosts.model import Connection
    from bootstrap.lab import vm
    from bootstrap.lab.state import check_host_name, write_private

    for host in args.hosts:
        check_host_name(host)
    loaded = pool.load(args.inventory, args.build, ":".join(args.hosts), tuple(args.secrets_dir))
    missing = sorted(set(args.hosts) - {h.name for h in loaded.hosts})
    if missing:
        raise BootstrapError(f"not in the inventory: {', '.join(missing)}")
    machines = {host: _ensure_up(lab, args, host) for host in args.hosts}
    # One known_hosts for the run: each machine's key as recorded when it first answered.
    keys = b"".join(_read_own(vm.Files(lab.machine_dir(h)).known_hosts) for h in machines)
    known = lab.root / "known_hosts"
    write_private(known, keys, 0o600)
    args.known_hosts, args.accept_new_host_keys = known, False
    hosts = [dataclasses.replace(h, connection=Connection(
        ansible_host="127.0.0.1", ansible_port=machines[h.name].ssh_port,
        ansible_user=machines[h.name].user,
        ansible_ssh_private_key_file=machines[h.name].key)) for h in loaded.hosts]
    return verify_fleet(args, dataclasses.replace(loaded, hosts=hosts))


def _read_own(path: Path) -> bytes:
    fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW)
    with os.fdopen(fd, "rb") as file:
        return file.read()


def _down(lab, args: argparse.Namespace) -> int:  # type: ignore[no-untyped-def]
    from bootstrap.lab import vm
    from bootstrap.lab.state import check_host_name

    if args.all == bool(args.hosts):
        raise BootstrapError("lab down: name the hosts to stop, or --all (not both)")
    hosts = lab.known_machines() if args.all else [check_host_name(h) for h in args.hosts]
    if not hosts:
        _say("no lab machine")
    for host in hosts:
        if not os.path.isdir(lab.machines / host):
            print(f"{host}: not in the lab", file=sys.stderr)
            continue
        _say(f"{host}: {vm.stop(lab, host)}; its disks and seed are removed")
    return 0
