"""How push and verify show their results: aligned tables, JSON and JUnit XML files."""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any


def table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """Columns padded to their widest cell; the last column is never padded."""
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header) - 1)]
    lines = []
    for row in [header, *rows]:
        cells = [str(c).ljust(w) for c, w in zip(row, widths, strict=False)]
        lines.append("  ".join([*cells, str(row[-1])]).rstrip())
    return "\n".join(lines) + "\n"


def write_json(path: Path, data: Any) -> None:
    write_text(path, json.dumps(data, indent=2, sort_keys=True) + "\n")


def write_text(path: Path, text: str) -> None:
    """Write beside the target and rename, so a reader never sees half a report."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "w") as handle:
            handle.write(text)
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def junit(reports: Sequence[Any]) -> str:
    """JUnit XML of verify: a test suite per host, a test case per check.

    A host that could not be checked is one test case ``connect`` with an error, so CI shows
    the reason once.
    """
    import xml.etree.ElementTree as ET

    root = ET.Element("testsuites", name="bootstrap verify")
    totals = {"tests": 0, "failures": 0, "errors": 0, "skipped": 0}
    for rep in reports:
        suite = ET.SubElement(root, "testsuite", name=rep.name, time=f"{rep.seconds:.3f}")
        counts = {"tests": 0, "failures": 0, "errors": 0, "skipped": 0}
        if rep.reason:
            case = ET.SubElement(suite, "testcase", classname=rep.name, name="connect", time="0")
            ET.SubElement(case, "error", message=f"{rep.status}: {rep.reason}", type=rep.status)
            counts["tests"] += 1
            counts["errors"] += 1
        for check in rep.checks:
            case = ET.SubElement(suite, "testcase", classname=f"{rep.name}.{check.role}",
                                 name=check.check.split("::", 1)[-1], time=f"{check.seconds:.3f}")
            counts["tests"] += 1
            if check.properties:  # where pytest's junitxml puts what record_property recorded
                properties = ET.SubElement(case, "properties")
                for name, value in check.properties:
                    ET.SubElement(properties, "property", name=name,
                                  value=value if isinstance(value, str) else json.dumps(value))
            first = check.message.splitlines()[0] if check.message else ""
            if check.outcome == "failed":
                ET.SubElement(case, "failure", message=first).text = check.message
                counts["failures"] += 1
            elif check.outcome == "error":
                ET.SubElement(case, "error", message=first).text = check.message
                counts["errors"] += 1
            elif check.outcome == "skipped":
                ET.SubElement(case, "skipped", message=check.message)
                counts["skipped"] += 1
        for key, value in counts.items():
            suite.set(key, str(value))
            totals[key] += value
    for key, value in totals.items():
        root.set(key, str(value))
    ET.indent(root)
    return '<?xml version="1.0" encoding="utf-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"
