"""The render command end to end: inventory → typed hosts → artifacts → build directory."""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path

from bootstrap import build
from bootstrap.builddir import BuildDir
from bootstrap.inventory import Inventory
from bootstrap.patterns import select
from bootstrap.render import Renderer


@dataclass(frozen=True)
class Outcome:
    plan: build.Plan
    written: bool
    diff: str = ""


def render_build(source: Path, outdir: Path, *, limit: str | None = None,
                 write: bool = True, diff: bool = False,
                 secret_dirs: tuple[Path, ...] = ()) -> Outcome:
    """Render the selected hosts in memory, then (when ``write``) update ``outdir`` atomically.

    ``diff`` computes the redacted diff against the previous build before anything is written.
    """
    inventory = Inventory(source)
    for warning in inventory.warnings:
        print(f"warning: {warning}", file=sys.stderr)
    names = select(inventory, limit)
    renderer = Renderer(inventory, secret_dirs)
    builds: dict[str, list[build.Entry]] = {}
    targets = []
    warned: set[str] = set()
    for name in names:
        host = inventory.hosts[name]
        for warning in inventory.conflicts(host):
            if warning not in warned:
                warned.add(warning)
                print(f"warning: {warning}", file=sys.stderr)
        target = renderer.target(host)
        targets.append(target)
        builds[name] = build.host_entries(name, target.roles, renderer.render(target))
        for warning in renderer.warnings:
            print(f"warning: {warning}", file=sys.stderr)
        renderer.warnings.clear()
    fleet = renderer.render_fleet(targets)
    if fleet or limit is None:
        builds[build.FLEET] = build.host_entries(build.FLEET, [], fleet)
    # Planned under the lock: another render may have changed the build meanwhile.
    with BuildDir.writing(outdir, create=write) as directory:
        plan = build.plan(directory, builds, prune=limit is None)
        for warning in plan.warnings:
            print(f"warning: {warning}", file=sys.stderr)
        text = build.diff(plan, directory) if diff else ""
        if write and (plan.changed or plan.write_state):
            build.apply(plan, directory)
    return Outcome(plan, write and plan.changed, text)
