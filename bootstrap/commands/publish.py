"""``bootstrap publish INVENTORY``: put each host's built files in S3 (see bootstrap.cloud.publish)."""

from __future__ import annotations

import argparse
from pathlib import Path

from bootstrap.hosts.secrets import add_secrets_dir_option, add_vault_options, withholding

HELP = ("put each host's built files in S3 as content-addressed objects plus one manifest per "
        "host, uploading only what is missing (boto3)")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("inventory", help="inventory file or folder")
    parser.add_argument("-b", "--build", default="build", type=Path, metavar="DIR",
                        help="build directory rendered from this inventory (default: build)")
    parser.add_argument("--limit", metavar="PATTERN",
                        help="Ansible host pattern: names, groups, globs, a:b, &a, !a "
                             "(default: every host; each needs aws.publish)")
    parser.add_argument("--dry-run", action="store_true",
                        help="read what the bucket holds and list what would be uploaded; make "
                             "no write call")
    parser.add_argument("--endpoint-url", metavar="URL",
                        help="send every AWS call to this endpoint (e.g. a moto server)")
    parser.add_argument("--region", metavar="R",
                        help="region of the bucket when aws.publish.region is not set (default: "
                             "aws.region, then boto3's AWS_REGION/config)")
    add_secrets_dir_option(parser)
    add_vault_options(parser)


def run(args: argparse.Namespace) -> int:
    # A dry run asks AWS for no secret: the build's manifests vouch for the files holding them.
    with withholding(args.dry_run):
        return _run(args)


def _run(args: argparse.Namespace) -> int:
    from bootstrap.build.directory import BuildDir
    from bootstrap.cloud.client import per_region
    from bootstrap.cloud.publish import Publisher, plan_hosts
    from bootstrap.hosts.loader import HostLoader
    from bootstrap.render.registry import Registry
    from bootstrap.render.renderer import Renderer

    hosts = HostLoader.open(Path(args.inventory), Registry, tuple(args.secrets_dir))
    # Publish renders to compare the build with the inventory: a role's warnings show, as in
    # render.
    renderer = Renderer(hosts.roles, hosts.inventory.basedir)
    api = per_region(args.endpoint_url)

    # Under the build's shared lock from the first manifest read to the last upload: a render
    # cannot change the files between the check and the upload.
    with BuildDir.reading(args.build) as directory:
        plans = plan_hosts(renderer, directory, hosts, args.limit, args.region)
        publisher = Publisher(api, directory, print, dry_run=args.dry_run)
        for plan in plans:
            publisher.publish(plan)
    counts = publisher.counts
    puts = (f"{_count(counts.puts, 'PUT request')} ({_count(counts.object_puts, 'object')}, "
            f"{_count(counts.manifest_puts, 'manifest')})")
    if args.dry_run:
        print(f"dry run: {_count(counts.hosts, 'host')}, would make {puts}; no write call made")
    else:
        print(f"published {_count(counts.hosts, 'host')}: {puts}, "
              f"{_count(counts.objects_present, 'object')} already there")
    return 0


def _count(number: int, noun: str) -> str:
    return f"{number} {noun}{'' if number == 1 else 's'}"
