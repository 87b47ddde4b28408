"""Shared fixtures: run the CLI as a user would, and write small inventories.

The helpers live in ``support/cli.py``: test modules import them from there, because another
``conftest`` module (tests/fleet) would shadow this one under ``from conftest import``.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from support.cli import ROOT, Result, run_cli, write_tree

__all__ = ["ROOT", "Result", "run_cli", "write_tree"]

# The moto server and cloud fixtures of the launch and terminate tests.
pytest_plugins = ["support.cloud"]


@pytest.fixture
def cli():
    return run_cli


@pytest.fixture
def tree(tmp_path: Path):
    def make(files: dict[str, str], name: str = "inv") -> Path:
        return write_tree(tmp_path / name, files)

    return make
