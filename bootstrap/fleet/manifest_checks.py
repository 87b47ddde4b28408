"""Checks every host gets: each file of its build present with the build's sha256, mode, owner.

One command asks the host about all files at once (see :mod:`bootstrap.fleet.filestate`); a drift
names each file and what differs.
"""

from __future__ import annotations

from typing import Any

import pytest

from bootstrap.build.manifest import parse
from bootstrap.fleet import filestate


def test_managed_files(host: Any, manifest: dict[str, Any]) -> None:
    # ``manifest`` is the JSON object every check gets, read and checked by the build's reader.
    files = parse(manifest).files
    if not files:
        pytest.skip("the build has no files for this host")
    states = []
    for batch in filestate.batches([f.dest for f in files],
                                   lambda d: filestate.quoted_size([d])):
        placeholders = " ".join(["%s"] * len(batch))
        survey = host.run(f"sh -c %s sh {placeholders}", filestate.SURVEY, *batch)
        if survey.rc != 0:
            pytest.fail(f"cannot read the managed files (exit {survey.rc}): "
                        f"{(survey.stderr or survey.stdout).strip()[-300:]}", pytrace=False)
        states += filestate.parse(survey.stdout, len(batch))
    drift = [f"{record.dest}: {'; '.join(problems)}"
             for record, state in zip(files, states, strict=True)
             if (problems := state.drift(record))]
    if drift:
        pytest.fail(f"{len(drift)} of {len(files)} managed files differ from the build:\n"
                    + "\n".join(drift), pytrace=False)
