"""``bootstrap dx import``, a command the dx-router role adds to the CLI: Direct Connect virtual
interfaces from AWS as inventory YAML."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

HELP = "Direct Connect helpers: import virtual interfaces from AWS as dx inventory YAML"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="dx_command", required=True, metavar="SUBCOMMAND")
    imp = sub.add_parser(
        "import", help="print the dx settings of virtual interfaces described by AWS",
        description="Read the JSON of 'aws directconnect describe-virtual-interfaces' or a "
                    "customerRouterConfig XML record (FILE, or - for stdin), or ask AWS with "
                    "--connection-id/--vif-id, and print the dx inventory YAML. MD5 keys become "
                    "{file: secrets/dx-<vif id>.key} references; they are written (mode 0600) "
                    "only with --write-secrets.")
    imp.add_argument("file", nargs="?", metavar="FILE|-",
                     help="describe-virtual-interfaces JSON or customerRouterConfig XML")
    ask = imp.add_mutually_exclusive_group()
    ask.add_argument("--connection-id", metavar="ID", help="ask AWS for the VIFs of this connection")
    ask.add_argument("--vif-id", metavar="ID", help="ask AWS for this virtual interface")
    imp.add_argument("--region", help="AWS region (default: from the AWS configuration)")
    imp.add_argument("--write-secrets", metavar="DIR", type=Path,
                     help="write each MD5 key to DIR/dx-<vif id>.key (mode 0600); give the "
                          "inventory's secrets folder")


def run(args: argparse.Namespace) -> int:
    from bootstrap.errors import BootstrapError
    from bootstrap.inventory.yamlfile import dump
    from bootstrap.roles.dx_router import importer

    if args.connection_id or args.vif_id:
        if args.file:
            raise BootstrapError("give FILE or --connection-id/--vif-id, not both")
        imported = importer.from_aws(_client(args.region), connection_id=args.connection_id,
                                     vif_id=args.vif_id)
    elif args.file:
        imported = importer.parse(*importer.read_source(args.file))
    else:
        raise BootstrapError("give FILE (or - for stdin), --connection-id or --vif-id")
    written = importer.write_keys(imported, args.write_secrets) if args.write_secrets else []
    count = len(imported.vifs)
    print(f"# {count} virtual interface{'s' if count != 1 else ''} from AWS Direct Connect. Add "
          "platform, router_id and interface, then put this in the router's host_vars.")
    if imported.keys and not args.write_secrets:
        print("# The MD5 keys were not written (use --write-secrets DIR); create the files the "
              "auth_key references name.")
    sys.stdout.write(dump(importer.document(imported)))
    for path in written:
        print(f"wrote {path} (mode 0600)", file=sys.stderr)
    return 0


def _client(region: str | None) -> object:
    import boto3

    return boto3.client("directconnect", region_name=region)
