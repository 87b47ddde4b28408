"""parliament, the IAM policy linter, on every policy of a build's ``_fleet/iam/``.

An access policy passes when parliament reports nothing at all. A role's trust policy has no
``Resource`` by definition, which parliament (an identity-policy linter) reports as malformed
before it looks at anything else; that one finding is expected there and only there, and the
Principal, Effect and JSON checks that parliament runs first still apply.

The policy goes to parliament on standard input: its ``--file`` refuses to run whenever standard
input is not a terminal, as in CI.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

from bootstrap.build.manifest import FileRecord
from bootstrap.validate.checker import Checker
from bootstrap.validate.programs import resolve

BROUGHT_BY = {"parliament": "pip:validate"}
NO_RESOURCE = "Statement contains neither Resource nor NotResource"


def findings(path: Path) -> list[dict[str, Any]]:
    """parliament's findings for the policy in ``path`` (empty: it has nothing to report)."""
    with path.open("rb") as policy:
        proc = subprocess.run([resolve("parliament"), "--json"], stdin=policy, capture_output=True,
                              text=True, timeout=120)
    out = []
    for line in proc.stdout.splitlines():
        if line.strip():
            out.append(json.loads(line))
    if proc.returncode and not out:
        out.append({"issue": "PARLIAMENT_FAILED", "severity": "HIGH",
                    "detail": proc.stderr.strip()[-300:] or f"parliament exited {proc.returncode}"})
    return out


def _shown(finding: dict[str, Any]) -> str:
    return f"{finding.get('severity', '?')} {finding.get('issue', '?')}: " \
           f"{finding.get('title') or ''} {finding.get('detail') or ''}".strip()


def _is_policy(record: FileRecord, suffix: str) -> bool:
    # Fleet-wide outputs are kept in the build (a relative dest), never pushed to a host.
    return not record.on_host and record.dest.startswith("iam/") and record.dest.endswith(suffix)


def check_policy(path: Path, record: FileRecord, folder: Path) -> list[str]:
    return [_shown(f) for f in findings(path)]


def check_trust(path: Path, record: FileRecord, folder: Path) -> list[str]:
    return [_shown(f) for f in findings(path)
            if not (f.get("issue") == "MALFORMED" and f.get("detail") == NO_RESOURCE)]


CHECKERS = [
    Checker("parliament", check_policy, tools=("parliament",), brought_by=BROUGHT_BY,
            applies=lambda record, _file: _is_policy(record, ".policy.json")),
    Checker("parliament (trust policy)", check_trust, tools=("parliament",),
            brought_by=BROUGHT_BY, applies=lambda record, _file: _is_policy(record, ".trust.json")),
]
