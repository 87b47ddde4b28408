"""``bootstrap render SOURCE``: inventory → typed hosts → artifacts → build directory."""

from __future__ import annotations

import argparse
import contextlib
import gc
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from bootstrap.hosts.secrets import add_secrets_dir_option, add_vault_options

if TYPE_CHECKING:
    import jinja2

    from bootstrap.build import planner
    from bootstrap.build.directory import BuildDir
    from bootstrap.hosts.loader import HostLoader
    from bootstrap.render.registry import Registry
    from bootstrap.render.renderer import Artifact, Renderer

HELP = "render every host's files into the build directory"
EXIT_CHANGES = 2


@dataclass(frozen=True)
class Outcome:
    plan: planner.Plan  # its hosts: those that change
    written: bool
    diff: str = ""
    hosts: int = 0  # hosts rendered (the fleet's folder is no host)


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
    hosts = outcome.hosts
    changed_hosts = len([h for h in changed if h.name != FLEET])
    print(f"{hosts} hosts rendered, {changed_hosts} {verb}, "
          f"{hosts - changed_hosts} unchanged -> {args.output}")
    return EXIT_CHANGES if args.check and plan.changed else 0


def render_build(source: Path, outdir: Path, *, limit: str | None = None,
                 write: bool = True, diff: bool = False,
                 secret_dirs: tuple[Path, ...] = ()) -> Outcome:
    """Render the selected hosts and (when ``write``) update ``outdir`` atomically.

    Each host is rendered, compared with the build and staged in turn, so memory holds one
    host's files at a time; nothing in the build changes until every host has rendered.
    ``diff`` computes the redacted diff against the previous build before anything is written.
    A render of every host whose inputs did not change since the last one only checks the build
    (see :mod:`bootstrap.build.stamp`).
    """
    from bootstrap.build import stamp
    from bootstrap.build.directory import BuildDir

    # Digested before anything is read: an input edited during this render changes the next
    # one's digest, so that render is full.
    inputs = stamp.inputs_digest(source, secret_dirs, outdir) \
        if write and not diff and limit is None else None
    # The lock first: the build's cache serves the render, and no other render may change the
    # build between this one's plan and its write.
    with BuildDir.writing(outdir, create=write) as directory:
        cache = directory.cache_folder()
        if inputs is not None:
            previous = stamp.read(cache)
            if previous is not None and previous.inputs == inputs and \
                    stamp.holds(directory, previous):
                for warning in previous.warnings:
                    print(f"warning: {warning}", file=sys.stderr)
                return Outcome(_unchanged(directory.path), False, "", previous.hosts)
        return _render(source, directory, limit=limit, write=write, diff=diff,
                       secret_dirs=secret_dirs, inputs=inputs)


def _unchanged(outdir: Path) -> planner.Plan:
    from bootstrap.build import planner

    return planner.Plan(outdir, [], [])


def _render(source: Path, directory: BuildDir, *, limit: str | None, write: bool, diff: bool,
            secret_dirs: tuple[Path, ...], inputs: str | None) -> Outcome:
    """The full render: every selected host rendered, compared and staged, then written."""
    from bootstrap.build.bytecode import TemplateCache
    from bootstrap.hosts.loader import HostLoader, print_warning
    from bootstrap.render.registry import Registry

    said: list[str] = []  # the warnings of rendering, replayed when the next render is skipped

    def warn(text: str) -> None:
        said.append(text)
        print_warning(text)

    with _collecting():
        hosts = HostLoader.open(source, Registry, secret_dirs, warn=warn)
        # What loading made lives until the end: the collector need not walk it ever again.
        gc.freeze()
        gc.enable()
        templates = TemplateCache.open(directory.cache_folder())
        try:
            return _render_all(hosts, directory, templates, said, limit=limit, write=write,
                               diff=diff, inputs=inputs)
        finally:
            if templates is not None:
                templates.close()


def _render_all(hosts: HostLoader[Registry], directory: BuildDir,
                templates: jinja2.BytecodeCache | None, said: list[str], *, limit: str | None,
                write: bool, diff: bool, inputs: str | None) -> Outcome:
    from bootstrap.build import planner, stamp
    from bootstrap.hosts.loader import print_warning
    from bootstrap.render.overrides import stray_overrides
    from bootstrap.render.renderer import Renderer

    renderer = Renderer(hosts.roles, hosts.inventory.basedir, templates)
    used = {a.template for name in hosts.roles.names() for a in hosts.roles.get(name).artifacts}
    for warning in stray_overrides(hosts.inventory.basedir, used):
        hosts.warn(warning)
    cache = directory.cache_folder()
    recorder = stamp.Recorder(cache if inputs is not None else None)
    # The stamp goes before the build changes, and comes back once the change is written.
    writer = planner.Writer(directory, prune=limit is None, write=write, diff=diff,
                            observe=recorder.add, before_commit=lambda: stamp.remove(cache))
    try:
        fleet = _render_hosts(hosts, renderer, writer, limit)
        rendered = writer.count
        if fleet or limit is None:
            writer.add(planner.FLEET, planner.host_entries(planner.FLEET, [], fleet))
        plan = writer.finish()
        if inputs is not None and renderer.secret_kinds <= {"file"}:
            recorder.finish(inputs, rendered, said, stamp.state_digest(directory))
    finally:
        writer.abandon()
        recorder.discard()
    for warning in plan.warnings:
        print_warning(warning)  # about the previous build, which this render replaced
    return Outcome(plan, write and plan.changed, "".join(writer.chunks), rendered)


def _render_hosts(hosts: HostLoader[Registry], renderer: Renderer, writer: planner.Writer,
                  limit: str | None) -> list[Artifact]:
    """Render every selected host into ``writer``; returns the fleet-wide artifacts."""
    from bootstrap.build import planner

    fleet_targets = []  # only the hosts a fleet hook reads are kept
    for target in hosts.targets(limit):
        roles = [renderer.registry.get(role) for role in target.roles]
        if any(role.fleet is not None for role in roles):
            fleet_targets.append(target)
        apply = {role.name: role.apply for role in roles}
        writer.add(target.name, planner.host_entries(target.name, target.roles,
                                                      renderer.render(target), apply))
        for warning in renderer.take_warnings():
            hosts.warn(warning)
    return renderer.render_fleet(fleet_targets)


@contextlib.contextmanager
def _collecting() -> Iterator[None]:
    """Garbage collection tuned for a render: off while the inventory loads (it makes objects
    that live until the end, which each collection would walk again, more of them each time as
    the fleet grows: the cost per host grew with the fleet), and on with a larger first
    generation once the caller froze them, for what each host leaves behind."""
    enabled = gc.isenabled()
    thresholds = gc.get_threshold()
    gc.disable()
    gc.set_threshold(max(thresholds[0], 20_000), *thresholds[1:])
    try:
        yield
    finally:
        gc.set_threshold(*thresholds)
        gc.unfreeze()
        if enabled:
            gc.enable()
        else:
            gc.disable()
