"""``bootstrap status INVENTORY``: each instance's pull against what is published (see
bootstrap.cloud.status)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from bootstrap.hosts.secrets import add_secrets_dir_option, add_vault_options

HELP = ("the fleet's convergence from the pull's status records in S3: per instance, the "
        "manifest applied against the one published, its age and any failure")
EXIT_BEHIND = 2


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("inventory", help="inventory file or folder")
    parser.add_argument("--limit", metavar="PATTERN",
                        help="Ansible host pattern (default: every host; each needs aws.publish)")
    parser.add_argument("--endpoint-url", metavar="URL",
                        help="send every AWS call to this endpoint (e.g. a moto server)")
    parser.add_argument("--region", metavar="R",
                        help="region of the bucket when aws.publish.region is not set")
    parser.add_argument("--json", metavar="FILE", type=Path, help="write the rows as JSON")
    add_secrets_dir_option(parser)
    add_vault_options(parser)


def run(args: argparse.Namespace) -> int:
    from datetime import UTC, datetime

    from bootstrap.cloud.client import Api, CallFailed, Live
    from bootstrap.cloud.publish import location_of, publish_settings
    from bootstrap.cloud.status import (
        BEHIND,
        FAILED,
        Location,
        age_text,
        convergence,
        published_digest,
        status_records,
    )
    from bootstrap.errors import BootstrapError
    from bootstrap.fleet import report
    from bootstrap.hosts.loader import HostLoader
    from bootstrap.render.registry import Registry
    from bootstrap.render.renderer import Renderer

    hosts = HostLoader.open(Path(args.inventory), Registry, tuple(args.secrets_dir))
    renderer = Renderer(hosts.roles, hosts.inventory.basedir)
    places: dict[Location, list[str]] = {}
    for target in hosts.targets(args.limit):
        namespace, settings, region = publish_settings(renderer, target)
        location = location_of(settings, region, args.region)
        if location is None:
            raise BootstrapError(f"no region for its bucket: set {namespace}.publish.region, "
                                 "pass --region, or set AWS_REGION", host=target.name,
                                 key=f"{namespace}.publish.region")
        places.setdefault(location, []).append(target.name)
    clients: dict[str, Api] = {}
    now = datetime.now(UTC)
    rows, unreadable = [], []
    for location, names in places.items():
        api = clients.setdefault(location.region, Live(location.region, args.endpoint_url))
        try:
            published = {name: published_digest(api, location, name) for name in names}
            records, bad = status_records(api, location)
        except CallFailed as exc:
            raise BootstrapError(f"{exc.explain()} (reading {location.url(location.prefix)})"
                                 ) from None
        rows += convergence(published, records, now)
        unreadable += bad

    def short(digest: str | None) -> str:
        return digest[:12] if digest else "-"

    sys.stdout.write(report.table(
        ["HOST", "INSTANCE", "STATE", "APPLIED", "PUBLISHED", "AGE", "DETAIL"],
        [[r.host, r.instance, r.state, short(r.applied), short(r.published), age_text(r.age),
          r.detail] for r in rows]))
    for key in unreadable:
        print(f"unreadable: {key} is not a status record the pull writes")
    counts: dict[str, int] = {}
    for row in rows:
        counts[row.state] = counts.get(row.state, 0) + 1
    instances = sum(1 for r in rows if r.instance != "-")
    print(f"{instances} instance{'' if instances == 1 else 's'}: "
          + ", ".join(f"{counts.get(s, 0)} {s}" for s in ("converged", BEHIND, FAILED))
          + (f"; {counts['waiting']} host{'' if counts['waiting'] == 1 else 's'} waiting"
             if counts.get("waiting") else ""))
    if args.json:
        report.write_json(args.json, {"command": "status", "rows": [r.as_json() for r in rows],
                                      "unreadable": unreadable})
    return EXIT_BEHIND if counts.get(BEHIND) or counts.get(FAILED) else 0
