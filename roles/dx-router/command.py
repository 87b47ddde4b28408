"""``bootstrap dx``, a command the dx-router role adds to the CLI: ``import`` turns Direct Connect
virtual interfaces from AWS into inventory YAML; ``parity`` shows whether a router's render sets
every value AWS's own router-configuration sample sets."""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

from bootstrap.errors import Origin

HELP = ("Direct Connect helpers: import virtual interfaces from AWS as dx inventory YAML, compare "
        "a render with AWS's router-configuration sample")
EXIT_PARITY = 2


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
    _parity_arguments(sub)


def _parity_arguments(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    from bootstrap.hosts.secrets import add_secrets_dir_option, add_vault_options

    parity = sub.add_parser(
        "parity", help="compare a router's render with AWS's router-configuration sample",
        description="Render ROUTER of INVENTORY in memory (nothing is written) and compare it with "
                    "the sample AWS gives for one of its virtual interfaces: the text of the "
                    "console's 'Download router configuration' (Cisco IOS, NX-OS, Junos, PAN-OS) "
                    "or the customerRouterConfig XML record. Each value the sample sets (VLAN, "
                    "addresses, ASNs, MD5 key, neighbor, advertised network, BFD) is shown with "
                    "the render's; keys are compared, never shown. Exit 2 when a value is "
                    "missing or different.")
    parity.add_argument("inventory", help="inventory file or folder")
    parity.add_argument("router", help="the router's host name in the inventory")
    parity.add_argument("--sample", required=True, metavar="FILE",
                        help="AWS's router configuration for the VIF (text or XML; - for stdin)")
    add_secrets_dir_option(parity)
    add_vault_options(parity)


def run(args: argparse.Namespace) -> int:
    if args.dx_command == "parity":
        return _parity(args)
    return _import(args)


def _import(args: argparse.Namespace) -> int:
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


def _parity(args: argparse.Namespace) -> int:
    from bootstrap.errors import BootstrapError
    from bootstrap.roles.dx_router import importer, parity

    text, source = importer.read_source(args.sample)
    sample = parity.read_sample(text, source)
    platform, style, files = _rendered(args)
    try:
        render = parity.read_render(platform, style, files)
    except (ValueError, IndexError) as exc:
        # A template override can make text the readers do not know; what they quote may hold
        # the key, so only the line is shown.
        line = re.search(r"line (\d+)", str(exc))
        raise BootstrapError(f"the {platform} render cannot be read back"
                             f"{f' (line {line.group(1)})' if line else ''}; 'bootstrap validate' "
                             "checks it", host=args.router) from None
    rows, adds = parity.compare(sample, render)
    vif = f"{sample.vif_id}, " if sample.vif_id else ""
    vlan = f"VLAN {sample.vlan}" if sample.vlan is not None else f"neighbor {sample.amazon.ip}"
    print(f"{args.router} ({platform}) against {source} ({sample.kind}): {vif}{vlan}")
    sys.stdout.write(parity.table(rows))
    print("the render adds: " + ("; ".join(adds) if adds else "nothing for this neighbor"))
    bad = parity.failed(rows)
    print(f"{len(rows)} elements: {len(rows) - len(bad)} as AWS sets them, "
          f"{len([r for r in bad if r.result == parity.MISSING])} missing, "
          f"{len([r for r in bad if r.result == parity.DIFFERENT])} different")
    return EXIT_PARITY if bad else 0


ROLE = "dx-router"


def _rendered(args: argparse.Namespace) -> tuple[str, str | None, dict[str, str]]:
    """The router's platform and its dx-router files, rendered in memory from the inventory."""
    from bootstrap.errors import BootstrapError
    from bootstrap.hosts.loader import HostLoader
    from bootstrap.hosts.secrets import vault_keys
    from bootstrap.render.registry import Registry
    from bootstrap.render.renderer import Renderer

    hosts = HostLoader.open(Path(args.inventory), Registry, tuple(args.secrets_dir),
                            vault=vault_keys(args))
    if args.router not in hosts.inventory.hosts:
        raise BootstrapError("no such host in the inventory", origin=Origin(args.inventory),
                             host=args.router)
    target = hosts.target(args.router)
    if ROLE not in target.roles:
        raise BootstrapError(f"the host has no {ROLE} role", host=args.router, key="bootstrap_roles")
    renderer = Renderer(hosts.roles, hosts.inventory.basedir)
    files = {a.dest: a.content.decode("utf-8", "replace") for a in renderer.render(target)
             if a.role == ROLE}
    settings = target.settings["dx"]
    return settings.platform, settings.style, files
