"""``bootstrap push INVENTORY``: copy every host's built files over SSH, only what differs."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from bootstrap.fleet.transport import DEFAULT_KNOWN_HOSTS
from bootstrap.hosts.secrets import add_secrets_dir_option, add_vault_options

HELP = "copy each host's built files over SSH (only what differs on the host), then apply"
EXIT_FAILED = 1
EXIT_CHANGES = 2
SHOWN_FILES = 10


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("inventory", help="inventory file or folder (for the connection vars)")
    add_connection_arguments(parser)
    parser.add_argument("--apply", action="store_true",
                        help="run each role's apply step where its files changed (since its "
                             "last successful apply)")
    parser.add_argument("--check", action="store_true",
                        help="only show what would change; exit 2 when something would")
    parser.add_argument("--backup", action="store_true",
                        help="keep a replaced file as FILE.<UTC time>~ beside it")
    # --cloud-init-timeout: the name it had when the only role that waited was cloud-init's.
    parser.add_argument("--ready-timeout", "--cloud-init-timeout", dest="ready_timeout",
                        type=float, default=600.0, metavar="SECONDS",
                        help="how long to wait for a host to be ready before copying (a role's "
                             "ready step, such as the first boot finishing; default: 600)")
    parser.add_argument("--json", metavar="FILE", type=Path, help="write the results as JSON")


def add_connection_arguments(parser: argparse.ArgumentParser) -> None:
    """Options push and verify share: which build, which hosts, how to reach them."""
    parser.add_argument("-b", "--build", default="build", type=Path, metavar="DIR",
                        help="build directory written by bootstrap render (default: build)")
    parser.add_argument("--limit", metavar="PATTERN",
                        help="Ansible host pattern: names, groups, globs, a:b, &a, !a")
    parser.add_argument("-f", "--forks", type=_positive, default=10, metavar="N",
                        help="hosts worked on at the same time (default: 10)")
    parser.add_argument("--known-hosts", type=Path, default=DEFAULT_KNOWN_HOSTS, metavar="FILE",
                        help="known_hosts file host keys are checked against "
                             "(default: ~/.ssh/known_hosts)")
    parser.add_argument("--accept-new-host-keys", action="store_true",
                        help="record the key of a host never seen before in the known_hosts "
                             "file (a changed key is still refused)")
    parser.add_argument("--timeout", type=float, default=10.0, metavar="SECONDS",
                        help="connect timeout per attempt (default: 10)")
    parser.add_argument("--retries", type=int, default=2, metavar="N",
                        help="connection attempts after the first, with backoff (default: 2)")
    parser.add_argument("--command-timeout", type=float, default=600.0, metavar="SECONDS",
                        help="longest silence from a command on a host (default: 600)")
    add_secrets_dir_option(parser)
    add_vault_options(parser)


def ssh_options(args: argparse.Namespace):  # -> SshOptions, imported lazily
    from bootstrap.fleet.transport import SshOptions

    return SshOptions(known_hosts=args.known_hosts, accept_new_host_keys=args.accept_new_host_keys,
                      timeout=args.timeout, retries=max(0, args.retries),
                      command_timeout=args.command_timeout)


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError("must be at least 1")
    return value


def run(args: argparse.Namespace) -> int:
    import fabric

    from bootstrap.fleet import pool, report
    from bootstrap.fleet.push import PushOptions, push_host

    loaded = pool.load(Path(args.inventory), args.build, args.limit, tuple(args.secrets_dir))
    options = PushOptions(ssh=ssh_options(args), apply=args.apply, check=args.check,
                          backup=args.backup, ready_timeout=args.ready_timeout)
    config = fabric.Config()
    verb = "push --check" if args.check else "push"
    progress = pool.Progress(verb, len(loaded.hosts), lambda r: r.describe())
    results = pool.each(loaded.hosts,
                         lambda host: push_host(host, loaded.registry, options, config),
                         forks=args.forks, progress=progress)

    rows = []
    for result in results:
        rows.append([result.name, f"{result.seconds:.2f} s", result.describe()])
        for dest in result.changed[:SHOWN_FILES]:
            rows.append(["", "", f"  {dest}"])
        if len(result.changed) > SHOWN_FILES:
            rows.append(["", "", f"  ... and {len(result.changed) - SHOWN_FILES} more"])
        for note in result.notes:
            rows.append(["", "", f"  note: {note}"])
    sys.stdout.write(report.table(["HOST", "TIME", "RESULT"], rows))
    counts: dict[str, int] = {}
    for result in results:
        counts[result.status] = counts.get(result.status, 0) + 1
    order = ["would change" if args.check else "changed", "unchanged", "failed"]
    print(f"{len(results)} host{'s' if len(results) != 1 else ''}: "
          + ", ".join(f"{counts.get(s, 0)} {s}" for s in order))
    if args.json:
        report.write_json(args.json, {
            "command": "push",
            "check": args.check,
            "hosts": {r.name: r.as_json() for r in results},
            "summary": {s: counts.get(s, 0) for s in order},
        })
    if any(r.failed for r in results):
        return EXIT_FAILED
    if args.check and any(r.changed for r in results):
        return EXIT_CHANGES
    return 0
