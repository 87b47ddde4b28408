"""Command line: argument parsing and dispatch only.

Every command is a module with ``HELP``, ``add_arguments(parser)`` and ``run(args) -> int``:
the engine's in :mod:`bootstrap.commands`, and those a built-in role adds (``commands:`` in its
role.yml, such as dx-router's ``bootstrap dx``).
Those modules import their heavy libraries inside ``run``, so ``bootstrap --help`` never loads
boto3, botocore, fabric, paramiko or testinfra.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
from typing import Any

from bootstrap import __version__
from bootstrap.errors import BootstrapError

EXIT_ERROR = 1
# Command name -> module under bootstrap.commands, in the order --help lists them.
COMMANDS = {
    "inventory": "inventory",
    "render": "render",
    "validate": "validate",
    "push": "push",
    "verify": "verify",
    "launch": "launch",
    "publish": "publish",
    "status": "status",
    "terminate": "terminate",
    "lab": "lab",
}


def parser(command: str | None = None) -> argparse.ArgumentParser:
    """The command line's parser; given the ``command`` about to run, only that command's module
    is imported (``--help`` and the roles' commands need them all)."""
    top = argparse.ArgumentParser(
        prog="bootstrap",
        description="Render cloud-init user-data, Puppet/Chef bootstrap and Direct Connect router "
                    "configs from one Ansible-style inventory; push them and verify the fleet.",
    )
    top.add_argument("--version", action="version", version=f"bootstrap {__version__}")
    sub = top.add_subparsers(dest="command", required=True, metavar="COMMAND")

    wanted = {command: COMMANDS[command]} if command in COMMANDS else COMMANDS
    for name, module_name in wanted.items():
        try:
            module = importlib.import_module(f"bootstrap.commands.{module_name}")
        except ModuleNotFoundError as exc:
            if exc.name == f"bootstrap.commands.{module_name}":
                continue  # a command this installation does not have
            raise
        _add(sub, name, module)
    if command in COMMANDS:
        return top
    from bootstrap.render.registry import Registry, command_module

    for role in Registry(None).declaring("commands"):
        for name in role.commands:
            _add(sub, name, command_module(role, name))
    return top


def _add(sub: Any, name: str, module: Any) -> None:
    cmd = sub.add_parser(name, help=module.HELP, description=module.HELP)
    module.add_arguments(cmd)
    cmd.set_defaults(func=module.run)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    args = parser(argv[0] if argv else None).parse_args(argv)
    try:
        return _run(args)
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


def _run(args: argparse.Namespace) -> int:
    if not (getattr(args, "vault_ids", None) or getattr(args, "vault_password_files", None)
            or any(name.startswith("ANSIBLE_VAULT") for name in os.environ)):
        # No password named anywhere: an inventory opened finds none either way, and the vault
        # code is not even loaded.
        return int(args.func(args))
    from bootstrap.hosts.secrets import vault_keys
    from bootstrap.inventory.vaultpass import using

    # Inventories opened anywhere in the command decrypt with the passwords it was given.
    with using(vault_keys(args)):
        return int(args.func(args))


if __name__ == "__main__":
    sys.exit(main())
