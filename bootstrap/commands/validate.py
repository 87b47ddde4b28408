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
                        help="exit 1 when a checker is not installed or a file names a checker "
                             "that does not exist (default: a warning, exit 0)")


def run(args: argparse.Namespace) -> int:
    import fnmatch

    from bootstrap.build.directory import BuildDir
    from bootstrap.errors import BootstrapError
    from bootstrap.validate.registry import catalog

    root = Path(args.build)
    # Under the build's lock; host folders only, links not followed, each manifest checked.
    with BuildDir.reading(root) as directory:
        names = directory.hosts()
        manifests = [(root / name, manifest) for name in names
                     if not args.limit or fnmatch.fnmatchcase(name, args.limit)
                     if (manifest := directory.manifest(name, files=True)) is not None]
    if not names:
        raise BootstrapError(f"{root}: no */manifest.json here; not a build directory")
    checkers = catalog()
    # Asked once per checker, when it first applies: looking up a Ruby library costs a process.
    missing_of: dict[str, list[str]] = {}
    failures = 0
    checked = 0
    skipped: dict[str, tuple[list[str], str]] = {}  # checker -> what it lacks, how to install
    unknown: list[str] = []
    unnamed: list[str] = []  # hosts rendered before files named their checkers
    for folder, manifest in manifests:
        for record in manifest.records:
            shown = f"{folder.name} {record.dest}"
            unknown += [f"{shown}: no checker named {name}" for name in checkers.unknown(record)]
            if record.check is None and folder.name not in unnamed:
                unnamed.append(folder.name)
            path = folder / record.path
            # A generic checker may look at the content to decide (shellcheck: a #! line).
            for checker in checkers.of(record, path):
                if checker.name not in missing_of:
                    missing_of[checker.name] = checker.missing()
                missing = missing_of[checker.name]
                if missing:
                    skipped.setdefault(checker.name, (missing, checker.install_hint(missing)))
                    print(f"SKIP {shown} ({checker.name}: not installed: {', '.join(missing)})")
                    continue
                checked += 1
                problems = checker.check(path, record, folder)
                if problems:
                    failures += 1
                    print(f"FAIL {shown} ({checker.name})")
                    for problem in problems:
                        print(f"     {problem}")
                else:
                    print(f"ok   {shown} ({checker.name})")
    generic = ", ".join(sorted({c.name for c in checkers.generic}))
    for host in unnamed:
        print(f"warning: {host}: its manifest does not say which checkers consume its files (a "
              f"build of an older bootstrap), so only {generic} ran; run: bootstrap render")
    for line in unknown:
        print(f"warning: {line}")
    for name, (missing, hint) in sorted(skipped.items()):
        print(f"warning: not installed, so not checked: {name} "
              f"(needs {', '.join(missing)}: {hint})")
    print(f"{checked} checks, {failures} failed, {len(skipped)} checkers not installed")
    if skipped and args.strict:
        print(f"error: --strict: {len(skipped)} checkers not installed", file=sys.stderr)
    if unknown and args.strict:
        print(f"error: --strict: {len(unknown)} checker names unknown", file=sys.stderr)
    return 1 if failures or (args.strict and (skipped or unknown)) else 0
