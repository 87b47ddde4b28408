"""``bootstrap terminate INVENTORY HOST...``: terminate launched hosts (see bootstrap.cloud.terminate)."""

from __future__ import annotations

import argparse
from pathlib import Path

from bootstrap.commands.launch import add_host_arguments

HELP = "terminate the EC2 instances of hosts (found by tag) and print their node cleanup commands"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_host_arguments(parser, write_help="drop the terminated hosts from this file written by "
                                          "launch")
    parser.add_argument("--delete", action="store_true",
                        help="for a group template: delete its Auto Scaling group and what launch "
                             "created for it (load balancer or listener, target group, launch "
                             "template), not only scale it to zero")


def run(args: argparse.Namespace) -> int:
    from bootstrap.cloud.client import connect
    from bootstrap.cloud.launch import read_fragment, selected_targets, write_fragment
    from bootstrap.cloud.terminate import terminate

    fragment = read_fragment(Path(args.write_inventory)) if args.write_inventory else {}
    hosts, targets = selected_targets(Path(args.inventory), args.hosts)
    gone = terminate(connect(args.endpoint_url, args.dry_run, print), hosts.roles, targets,
                     args.region, print, delete=args.delete)
    if args.dry_run:
        print(f"dry run: {len(targets)} host{'s' if len(targets) != 1 else ''}, no call made")
    elif args.write_inventory and gone:
        write_fragment(Path(args.write_inventory), fragment, {}, removed=tuple(gone))
        print(f"wrote {args.write_inventory}")
    return 0
