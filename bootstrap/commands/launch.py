"""``bootstrap launch INVENTORY HOST...``: start hosts on EC2 from the build (see bootstrap.cloud.launch)."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING

from bootstrap.hosts.secrets import add_secrets_dir_option, add_vault_options, withholding

if TYPE_CHECKING:
    from bootstrap.cloud.launch import Spec

HELP = "launch hosts on EC2 with their rendered user-data, instance role and S3 objects (boto3)"


def add_host_arguments(parser: argparse.ArgumentParser, *, write_help: str) -> None:
    """The arguments launch and terminate share: which hosts, which endpoint, dry run."""
    parser.add_argument("inventory", help="inventory file or folder")
    parser.add_argument("hosts", nargs="+", metavar="HOST",
                        help="host names or Ansible host patterns (web01, web, 'web:!web02')")
    parser.add_argument("--dry-run", action="store_true",
                        help="print every API call it would make (secrets redacted) and make none")
    parser.add_argument("--endpoint-url", metavar="URL",
                        help="send every AWS call to this endpoint (e.g. a moto server)")
    parser.add_argument("--region", metavar="R", help="region for every host (default: aws.region, "
                                                      "then boto3's AWS_REGION/config)")
    parser.add_argument("--write-inventory", metavar="FILE", help=write_help)
    add_vault_options(parser)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_host_arguments(parser, write_help="write the instances' addresses (ansible_host) to this "
                                          "inventory file")
    parser.add_argument("-b", "--build", default="build", metavar="DIR",
                        help="build directory rendered from this inventory (default: build)")
    parser.add_argument("--timeout", type=float, default=600.0, metavar="SECONDS",
                        help="how long to wait for each instance to run (default: 600)")
    add_secrets_dir_option(parser)


def run(args: argparse.Namespace) -> int:
    # A dry run asks AWS nothing, not even for the secrets it holds.
    with withholding(args.dry_run):
        return _run(args)


def _run(args: argparse.Namespace) -> int:
    from bootstrap.cloud.client import connect
    from bootstrap.cloud.launch import (
        Launcher,
        Ledger,
        read_fragment,
        read_spec,
        selected_targets,
        write_fragment,
    )
    from bootstrap.render.renderer import Renderer

    fragment = read_fragment(Path(args.write_inventory)) if args.write_inventory else {}
    hosts, targets = selected_targets(Path(args.inventory), args.hosts, tuple(args.secrets_dir))
    # Launch renders to compare the build with the inventory: a role's warnings show, as in render.
    renderer = Renderer(hosts.roles, hosts.inventory.basedir)
    specs = []
    for target in targets:
        specs.append(read_spec(renderer, target, Path(args.build), args.region))
        for warning in renderer.take_warnings():
            hosts.warn(warning)
    _check_templates(specs)
    ledger = Ledger(print, quiet=args.dry_run)
    launcher = Launcher(connect(args.endpoint_url, args.dry_run, print), ledger,
                        timeout=args.timeout)
    try:
        for spec in specs:
            launcher.launch(spec)
    finally:
        if args.write_inventory and launcher.results:
            write_fragment(Path(args.write_inventory), fragment, launcher.results)
    if args.dry_run:
        print(f"dry run: {len(specs)} host{'s' if len(specs) != 1 else ''}, no call made")
    elif args.write_inventory:
        print(f"wrote {args.write_inventory}")
    return 0


def _check_templates(specs: list[Spec]) -> None:
    from bootstrap.errors import BootstrapError

    owners: dict[str, str] = {}
    for spec in specs:
        name = spec.aws.launch_template
        if name is None:
            continue
        if name in owners:
            raise BootstrapError(f"launch template {name} is also host {owners[name]}'s; one "
                                 "template holds one host's user-data", host=spec.host,
                                 key=f"{spec.namespace}.launch_template",
                                 origin=spec.target.origin(spec.namespace, "launch_template"))
        owners[name] = spec.host
