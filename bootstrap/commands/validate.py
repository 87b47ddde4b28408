"""``bootstrap validate BUILD``: every file of a build checked by the program that consumes it."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

HELP = "check every file of a build with its real consumer (vtysh, bird, cloud-init schema, ...)"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("build", nargs="?", default="build", help="build directory (default: build)")
    parser.add_argument("--limit", metavar="GLOB", help="only hosts whose name matches GLOB")
    parser.add_argument("--strict", action="store_true",
                        help="exit 1 when a checker is not installed (default: a warning, exit 0)")


def run(args: argparse.Namespace) -> int:
    import fnmatch

    from bootstrap.build.directory import BuildDir, read_manifest
    from bootstrap.errors import BootstrapError
    from bootstrap.validate.registry import all_checkers, install_hint

    root = Path(args.build)
    # Under the build's lock; host folders only, links not followed, each manifest checked.
    with BuildDir.reading(root) as directory:
        names = directory.hosts()
        manifests = [(root / name, read_manifest(directory, name, files=True) or {})
                     for name in names
                     if not args.limit or fnmatch.fnmatchcase(name, args.limit)]
    if not names:
        raise BootstrapError(f"{root}: no */manifest.json here; not a build directory")
    checkers = all_checkers()
    # Asked once per checker, when it first applies: looking up a Ruby library costs a process.
    missing_of: dict[str, list[str]] = {}
    failures = 0
    checked = 0
    skipped: dict[str, list[str]] = {}
    for folder, manifest in manifests:
        for record in [*manifest.get("files", []), *manifest.get("outputs", [])]:
            # A checker may look at the content to decide (shellcheck: a #!/bin/sh first line).
            record = {**record, "file": str(folder / record["path"])}
            shown = f"{folder.name} {record['dest']}"
            for checker in checkers:
                if not checker.applies(record):
                    continue
                if checker.name not in missing_of:
                    missing_of[checker.name] = checker.missing()
                missing = missing_of[checker.name]
                if missing:
                    skipped.setdefault(checker.name, missing)
                    print(f"SKIP {shown} ({checker.name}: not installed: {', '.join(missing)})")
                    continue
                checked += 1
                problems = checker.check(folder / record["path"], record, folder)
                if problems:
                    failures += 1
                    print(f"FAIL {shown} ({checker.name})")
                    for problem in problems:
                        print(f"     {problem}")
                else:
                    print(f"ok   {shown} ({checker.name})")
    for name, missing in sorted(skipped.items()):
        print(f"warning: not installed, so not checked: {name} "
              f"(needs {', '.join(missing)}: {install_hint(missing)})")
    print(f"{checked} checks, {failures} failed, {len(skipped)} checkers not installed")
    if skipped and args.strict:
        print(f"error: --strict: {len(skipped)} checkers not installed", file=sys.stderr)
    return 1 if failures or (skipped and args.strict) else 0
