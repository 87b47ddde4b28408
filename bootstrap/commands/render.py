"""``bootstrap render SOURCE``: inventory → typed hosts → artifacts → build directory."""

from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from bootstrap.hosts.secrets import add_secrets_dir_option, add_vault_options

if TYPE_CHECKING:
    from bootstrap.build import planner

HELP = "render every host's files into the build directory"
EXIT_CHANGES = 2


@dataclass(frozen=True)
class Outcome:
    plan: planner.Plan
    written: bool
    diff: str = ""



def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("inventory", help="inventory file or folder")
    parser.add_argument("-o", "--output", default="build", metavar="DIR",
                        help="build directory (default: build)")
    parser.add_argument("--limit", metavar="PATTERN",
                        help="Ansible host pattern: names, groups, globs, a:b, &a, !a")
    parser.add_argument("--diff", action="store_true",
                        help="print a unified diff against the previous build (secrets redacted)")
    parser.add_argument("--check", action="store_true",
                        help="render and diff without writing; exit 2 when something would change")
    add_secrets_dir_option(parser)
    add_vault_options(parser)


def run(args: argparse.Namespace) -> int:
    from bootstrap.build.planner import FLEET, MANIFEST

    outcome = render_build(Path(args.inventory), Path(args.output), limit=args.limit,
                           write=not args.check, diff=args.diff or args.check,
                           secret_dirs=tuple(args.secrets_dir))
    plan = outcome.plan
    sys.stdout.write(outcome.diff)
    hosts = [h for h in plan.hosts if h.name != FLEET]
    changed = [h for h in plan.hosts if h.changed or h.removed]
    verb = "would change" if args.check else "changed"
    for host in changed:
        files = len([p for p in host.changed if not p.startswith(".") and p != MANIFEST])
        files += len(host.removed)
        if host.name == FLEET and not files:
            continue
        print(f"{verb}: {host.name} ({files} file{'s' if files != 1 else ''})")
    for name in plan.stale_hosts:
        print(f"{'would remove' if args.check else 'removed'}: {name} (not in the inventory)")
    changed_hosts = len([h for h in changed if h.name != FLEET])
    print(f"{len(hosts)} hosts rendered, {changed_hosts} {verb}, "
          f"{len(hosts) - changed_hosts} unchanged -> {args.output}")
    return EXIT_CHANGES if args.check and plan.changed else 0


def render_build(source: Path, outdir: Path, *, limit: str | None = None,
                 write: bool = True, diff: bool = False,
                 secret_dirs: tuple[Path, ...] = ()) -> Outcome:
    """Render the selected hosts in memory, then (when ``write``) update ``outdir`` atomically.

    ``diff`` computes the redacted diff against the previous build before anything is written.
    """
    from bootstrap.build import planner
    from bootstrap.build.directory import BuildDir
    from bootstrap.hosts.loader import HostLoader
    from bootstrap.render.overrides import stray_overrides
    from bootstrap.render.registry import Registry
    from bootstrap.render.renderer import Renderer

    hosts = HostLoader.open(source, Registry, secret_dirs)
    renderer = Renderer(hosts.roles, hosts.inventory.basedir)
    used = {a.template for name in hosts.roles.names() for a in hosts.roles.get(name).artifacts}
    for warning in stray_overrides(hosts.inventory.basedir, used):
        hosts.warn(warning)
    builds: dict[str, list[planner.Entry]] = {}
    targets = []
    for target in hosts.targets(limit):
        targets.append(target)
        apply = {role: renderer.registry.get(role).apply for role in target.roles}
        builds[target.name] = planner.host_entries(target.name, target.roles,
                                                   renderer.render(target), apply)
        for warning in renderer.take_warnings():
            hosts.warn(warning)
    fleet = renderer.render_fleet(targets)
    if fleet or limit is None:
        builds[planner.FLEET] = planner.host_entries(planner.FLEET, [], fleet)
    # Planned under the lock: another render may have changed the build meanwhile.
    with BuildDir.writing(outdir, create=write) as directory:
        plan = planner.plan(directory, builds, prune=limit is None)
        for warning in plan.warnings:
            hosts.warn(warning)
        text = planner.diff(plan, directory) if diff else ""
        if write and (plan.changed or plan.write_state):
            planner.apply(plan, directory)
    return Outcome(plan, write and plan.changed, text)
