"""The lab folder the machine tests share: its image built once per machine, then reused."""

from __future__ import annotations

from pathlib import Path

import pytest
from support.lab import bootstrap

from bootstrap.lab.state import default_dir


@pytest.fixture(scope="session")
def lab_dir() -> Path:
    lab = default_dir()
    result = bootstrap("lab", "image", "--lab-dir", lab, seconds=1800)
    assert result.returncode == 0, result.stderr
    return lab
