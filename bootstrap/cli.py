"""Command line: argument parsing only; each command calls one function of the package.

``inventory`` and ``render`` are defined here; every other command is a module of
:mod:`bootstrap.commands` with ``HELP``, ``add_arguments(parser)`` and ``run(args) -> int``.
Those modules import their heavy libraries inside ``run``, so ``bootstrap --help`` never loads
boto3, botocore, fabric, paramiko or testinfra.
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import sys
from pathlib import Path

from bootstrap import __version__
from bootstrap.errors import BootstrapError
from bootstrap.secrets import add_secrets_dir_option

EXIT_ERROR = 1
EXIT_CHANGES = 2
# Command name -> module under bootstrap.commands, in the order --help lists them.
COMMANDS = {
    "validate": "validate",
    "push": "push",
    "verify": "verify",
    "launch": "launch",
    "terminate": "terminate",
    "dx": "dx",
}


def _inventory(args: argparse.Namespace) -> int:
    from bootstrap import inventory_view
    from bootstrap.inventory import Inventory

    inv = Inventory(Path(args.inventory))
    for warning in inv.warnings:
        print(f"warning: {warning}", file=sys.stderr)
    if args.explain:
        host, key = args.explain
        for warning in inv.conflicts(inv.host(host)):
            if f"key {key}:" in warning:
                print(f"warning: {warning}", file=sys.stderr)
        sys.stdout.write(inventory_view.explain(inv, host, key))
    elif args.host:
        for warning in inv.conflicts(inv.host(args.host)):
            print(f"warning: {warning}", file=sys.stderr)
        print(json.dumps(inventory_view.host_vars(inv, args.host), indent=4, sort_keys=True))
    else:
        seen: set[str] = set()
        for host in inv.hosts.values():
            for warning in inv.conflicts(host):
                if warning not in seen:
                    seen.add(warning)
                    print(f"warning: {warning}", file=sys.stderr)
        print(json.dumps(inventory_view.ansible_list(inv), indent=4, sort_keys=True))
    return 0


def _render(args: argparse.Namespace) -> int:
    from bootstrap.build import FLEET, MANIFEST
    from bootstrap.pipeline import render_build

    outcome = render_build(Path(args.inventory), Path(args.output), limit=args.limit,
                           write=not args.check, diff=args.diff or args.check,
                           secret_dirs=tuple(args.secrets_dir))
    plan = outcome.plan
    sys.stdout.write(outcome.diff)
    hosts = [h for h in plan.hosts if h.name != FLEET]
    changed = [h for h in plan.hosts if h.changed or h.removed]
    verb = "would change" if args.check else "changed"
    for host in changed:
        files = len([p for p in host.changed if not p.startswith(".") and p != MANIFEST])
        files += len(host.removed)
        if host.name == FLEET and not files:
            continue
        print(f"{verb}: {host.name} ({files} file{'s' if files != 1 else ''})")
    for name in plan.stale_hosts:
        print(f"{'would remove' if args.check else 'removed'}: {name} (not in the inventory)")
    changed_hosts = len([h for h in changed if h.name != FLEET])
    print(f"{len(hosts)} hosts rendered, {changed_hosts} {verb}, "
          f"{len(hosts) - changed_hosts} unchanged -> {args.output}")
    return EXIT_CHANGES if args.check and plan.changed else 0


def parser() -> argparse.ArgumentParser:
    top = argparse.ArgumentParser(
        prog="bootstrap",
        description="Render cloud-init user-data, Puppet/Chef bootstrap and Direct Connect router "
                    "configs from one Ansible-style inventory; push them and verify the fleet.",
    )
    top.add_argument("--version", action="version", version=f"bootstrap {__version__}")
    sub = top.add_subparsers(dest="command", required=True, metavar="COMMAND")

    inv = sub.add_parser("inventory", help="show the inventory as Ansible resolves it")
    inv.add_argument("inventory", help="inventory file or folder")
    mode = inv.add_mutually_exclusive_group()
    mode.add_argument("--list", action="store_true",
                      help="all groups and host vars, in ansible-inventory --list shape (default)")
    mode.add_argument("--host", metavar="NAME", help="one host's resolved vars, secrets redacted")
    mode.add_argument("--explain", nargs=2, metavar=("NAME", "KEY"),
                      help="which file:line set KEY for host NAME, and what it overrode")
    inv.set_defaults(func=_inventory)

    ren = sub.add_parser("render", help="render every host's files into the build directory")
    ren.add_argument("inventory", help="inventory file or folder")
    ren.add_argument("-o", "--output", default="build", metavar="DIR",
                     help="build directory (default: build)")
    ren.add_argument("--limit", metavar="PATTERN",
                     help="Ansible host pattern: names, groups, globs, a:b, &a, !a")
    ren.add_argument("--diff", action="store_true",
                     help="print a unified diff against the previous build (secrets redacted)")
    ren.add_argument("--check", action="store_true",
                     help="render and diff without writing; exit 2 when something would change")
    add_secrets_dir_option(ren)
    ren.set_defaults(func=_render)

    for name, module_name in COMMANDS.items():
        try:
            module = importlib.import_module(f"bootstrap.commands.{module_name}")
        except ModuleNotFoundError as exc:
            if exc.name == f"bootstrap.commands.{module_name}":
                continue  # a command this installation does not have
            raise
        cmd = sub.add_parser(name, help=module.HELP, description=module.HELP)
        module.add_arguments(cmd)
        cmd.set_defaults(func=module.run)
    return top


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        return int(args.func(args))
    except BootstrapError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_ERROR
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        # The reader went away (``| head``): stop quietly, and keep Python from complaining
        # again when it flushes stdout at exit.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_ERROR
    except OSError as exc:
        # A file or folder the command was pointed at cannot be used; name it, once.
        where = f"{exc.filename}: " if exc.filename else ""
        print(f"error: {where}{exc.strerror or exc}", file=sys.stderr)
        return EXIT_ERROR


if __name__ == "__main__":
    sys.exit(main())
