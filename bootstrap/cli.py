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
    "terminate": "terminate",
}


def parser() -> argparse.ArgumentParser:
    top = argparse.ArgumentParser(
        prog="bootstrap",
        description="Render cloud-init user-data, Puppet/Chef bootstrap and Direct Connect router "
                    "configs from one Ansible-style inventory; push them and verify the fleet.",
    )
    top.add_argument("--version", action="version", version=f"bootstrap {__version__}")
    sub = top.add_subparsers(dest="command", required=True, metavar="COMMAND")

    for name, module_name in COMMANDS.items():
        try:
            module = importlib.import_module(f"bootstrap.commands.{module_name}")
        except ModuleNotFoundError as exc:
            if exc.name == f"bootstrap.commands.{module_name}":
                continue  # a command this installation does not have
            raise
        _add(sub, name, module)
    from bootstrap.render.registry import Registry, command_module

    roles = Registry(None)
    for role in (roles.get(n) for n in roles.names()):
        for name in role.commands:
            _add(sub, name, command_module(role, name))
    return top


def _add(sub: Any, name: str, module: Any) -> None:
    cmd = sub.add_parser(name, help=module.HELP, description=module.HELP)
    module.add_arguments(cmd)
    cmd.set_defaults(func=module.run)


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    from bootstrap.hosts.secrets import vault_keys
    from bootstrap.inventory.vaultpass import using

    try:
        # Inventories opened anywhere in the command decrypt with the passwords it was given.
        with using(vault_keys(args)):
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
