"""``bootstrap terminate INVENTORY HOST...``: terminate launched hosts (see bootstrap.terminate)."""

from __future__ import annotations

import argparse
from pathlib import Path

HELP = "terminate the EC2 instances of hosts (found by tag) and print their node cleanup commands"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("inventory", help="inventory file or folder")
    parser.add_argument("hosts", nargs="+", metavar="HOST",
                        help="host names or Ansible host patterns")
    parser.add_argument("--dry-run", action="store_true",
                        help="print every API call it would make and make none")
    parser.add_argument("--endpoint-url", metavar="URL",
                        help="send every AWS call to this endpoint (e.g. a moto server)")
    parser.add_argument("--region", metavar="R", help="region for every host (default: aws.region, "
                                                      "then boto3's AWS_REGION/config)")
    parser.add_argument("--write-inventory", metavar="FILE",
                        help="drop the terminated hosts from this file written by launch")


def run(args: argparse.Namespace) -> int:
    from bootstrap.aws import connect
    from bootstrap.launch import selected_targets, write_fragment
    from bootstrap.terminate import terminate

    _, targets = selected_targets(Path(args.inventory), args.hosts)
    gone = terminate(connect(args.endpoint_url, args.dry_run, print), targets, args.region, print)
    if args.dry_run:
        print(f"dry run: {len(targets)} host{'s' if len(targets) != 1 else ''}, no call made")
    elif args.write_inventory and gone:
        write_fragment(Path(args.write_inventory), {}, removed=tuple(gone))
        print(f"wrote {args.write_inventory}")
    return 0
