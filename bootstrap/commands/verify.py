"""``bootstrap verify INVENTORY``: run each role's testinfra checks against each host."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from bootstrap.commands.push import add_connection_arguments, ssh_options

HELP = "run each role's testinfra checks against each host: a table, JSON and JUnit XML"
EXIT_FAILED = 1


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("inventory", help="inventory file or folder (for the connection vars)")
    add_connection_arguments(parser)
    parser.add_argument("--json", metavar="FILE", type=Path, help="write the results as JSON")
    parser.add_argument("--junit", metavar="FILE", type=Path,
                        help="write the results as JUnit XML (one test suite per host)")


def run(args: argparse.Namespace) -> int:
    from bootstrap.fleet import pool

    return verify_fleet(args, pool.load(Path(args.inventory), args.build, args.limit,
                                        tuple(args.secrets_dir)))


def verify_fleet(args: argparse.Namespace, loaded: Any) -> int:
    """Check the hosts of ``loaded`` (a :class:`bootstrap.fleet.pool.Fleet`); print the report."""
    import fabric

    from bootstrap.fleet import pool, report
    from bootstrap.fleet.checks import Library
    from bootstrap.fleet.verify import ERROR, FAILED, PASSED, SKIPPED, verify_host

    library = Library(loaded.registry)
    # Load every check module before the threads start, so a broken one stops the run here.
    for host in loaded.hosts:
        library.for_roles(host.roles)
    ssh = ssh_options(args)
    config = fabric.Config()
    progress = pool.Progress("verify", len(loaded.hosts), lambda r: r.describe())
    reports = pool.each(loaded.hosts, lambda host: verify_host(host, library, ssh, config),
                         forks=args.forks, progress=progress)

    rows = []
    for rep in reports:
        if rep.reason:
            rows.append([rep.name, "-", rep.status.upper(), rep.reason])
        for check in rep.checks:
            lines = check.message.splitlines() or [""]
            word = {PASSED: "ok", SKIPPED: "skipped"}.get(check.outcome, check.outcome.upper())
            rows.append([rep.name, check.check, word, lines[0]])
            rows.extend(["", "", "", f"  {line}"] for line in lines[1:])
            rows.extend(["", "", "", f"  {name}: {_shown(value)}"] for name, value in check.properties)
    sys.stdout.write(report.table(["HOST", "CHECK", "RESULT", "DETAIL"], rows))
    checks = [c for rep in reports for c in rep.checks]
    bad_hosts = [rep for rep in reports if not rep.ok]
    unreachable = [rep for rep in reports if rep.status in ("unreachable", "not rendered")]
    counts = {o: sum(1 for c in checks if c.outcome == o) for o in (PASSED, FAILED, ERROR, SKIPPED)}
    line = (f"{len(reports)} host{'s' if len(reports) != 1 else ''} "
            f"({len(reports) - len(bad_hosts)} ok, {len(bad_hosts)} not ok), "
            f"{len(checks)} checks: {counts[PASSED]} passed, {counts[FAILED]} failed, "
            f"{counts[ERROR]} errors, {counts[SKIPPED]} skipped")
    if unreachable:
        line += f"; not checked: {', '.join(rep.name for rep in unreachable)}"
    print(line)
    if args.json:
        report.write_json(args.json, {
            "command": "verify",
            "hosts": {rep.name: rep.as_json() for rep in reports},
            "summary": {"hosts": len(reports), "hosts_failed": len(bad_hosts), **counts},
        })
    if args.junit:
        report.write_text(args.junit, report.junit(reports))
    return EXIT_FAILED if bad_hosts else 0


def _shown(value: object) -> str:
    """A recorded property on one line: a mapping as ``key value, ...``."""
    if isinstance(value, dict):
        return ", ".join(f"{k} {_shown(v)}" for k, v in value.items())
    if isinstance(value, list | tuple):
        return ", ".join(_shown(v) for v in value)
    return str(value)
