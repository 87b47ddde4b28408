"""``bootstrap validate``: checkers are found where pip put them, a checker that is not installed
is a warning naming what brings it (an error only with ``--strict``), a failed check always fails.
"""

from __future__ import annotations

import os
import re
import shutil
import sys
import tomllib
from pathlib import Path

import pytest
from support.cli import ROOT, run_cli

from bootstrap.validate.registry import all_checkers

VENV_BIN = Path(sys.executable).parent


@pytest.fixture(scope="module")
def example_build(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("validate") / "build"
    result = run_cli("render", ROOT / "inventory", "-o", out)
    assert result.rc == 0, result.err
    return out


def path_without(*programs: str) -> str:
    """This PATH without the interpreter's folder and without any folder holding ``programs``."""
    kept = [entry for entry in os.environ.get("PATH", "").split(os.pathsep)
            if entry and Path(entry) != VENV_BIN
            and not any((Path(entry) / program).exists() for program in programs)]
    return os.pathsep.join(kept)


def test_parliament_installed_beside_the_interpreter_runs_without_it_on_path(example_build):
    # The Python checkers come with the package's validate extra, into the virtualenv's bin.
    assert (VENV_BIN / "parliament").is_file(), "pip install '.[validate]' brings parliament"
    path = path_without("parliament")
    assert shutil.which("parliament", path=path) is None
    result = run_cli("validate", example_build, "--limit", "_fleet", "--strict", env={"PATH": path})
    assert result.rc == 0, result.out + result.err
    policies = sorted(p.name for p in (example_build / "_fleet" / "iam").glob("*.json"))
    assert policies
    for name in policies:
        checker = "parliament (trust policy)" if name.endswith(".trust.json") else "parliament"
        assert f"ok   _fleet iam/{name} ({checker})" in result.out.splitlines()
    assert "SKIP" not in result.out and "not installed" not in result.err


def test_a_missing_checker_is_a_warning_that_names_the_package_to_install(example_build, tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    result = run_cli("validate", example_build, "--limit", "dx-*", env={"PATH": str(empty)})
    assert result.rc == 0, result.out + result.err
    lines = result.out.splitlines()
    assert "SKIP dx-frr01 /etc/frr/frr.conf (vtysh -C: not installed: vtysh)" in lines
    for checker, program, package in (("vtysh -C", "vtysh", "frr"), ("bird -p", "bird", "bird2"),
                                      ("bgpd -n", "bgpd", "openbgpd"),
                                      ("netplan generate", "netplan", "netplan.io"),
                                      ("ifup --no-act", "ifup", "ifupdown"),
                                      ("shellcheck", "shellcheck", "shellcheck")):
        assert f"warning: not installed, so not checked: {checker} (needs {program}: " \
               f"apt-get install {package})" in lines
    # What needs no program still ran.
    assert "ok   dx-junos01 router/aws-dx.set (junos structure)" in lines
    assert lines[-1].endswith(" 0 failed, 6 checkers not installed")
    assert result.err == ""


def test_strict_makes_a_missing_checker_an_error(example_build, tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    result = run_cli("validate", example_build, "--limit", "dx-*", "--strict",
                     env={"PATH": str(empty)})
    assert result.rc == 1
    assert "warning: not installed, so not checked: vtysh -C" in result.out
    assert result.err == "error: --strict: 6 checkers not installed\n"


def test_a_failed_check_fails_whether_or_not_checkers_are_missing(example_build, tmp_path):
    build = tmp_path / "build"
    shutil.copytree(example_build, build, symlinks=True)
    (build / "app01" / "user-data.b64").write_text("not base64 at all!\n")
    empty = tmp_path / "empty"
    empty.mkdir()
    for env in ({}, {"PATH": str(empty)}):
        result = run_cli("validate", build, "--limit", "app01", env=env)
        assert result.rc == 1, result.out
        assert "FAIL app01 user-data.b64 (user-data base64)" in result.out
        assert re.fullmatch(r"\d+ checks, 1 failed, \d+ checkers not installed",
                            result.out.splitlines()[-1])


def test_a_missing_ruby_library_is_not_installed_rather_than_failed(example_build, tmp_path):
    ruby = shutil.which("ruby")
    if ruby is None:
        pytest.skip("ruby is not installed")
    fake = tmp_path / "bin"
    fake.mkdir()
    # Ruby without Debian's ruby-chef-config: requiring its library fails, the rest works.
    (fake / "ruby").write_text(
        "#!/bin/sh\n"
        'if [ "$1" = -e ] && [ "$2" = "require ARGV[0]" ]; then\n'
        '  case "$3" in chef-config/*) exit 1;; esac\n'
        "fi\n"
        f'exec {ruby} "$@"\n')
    (fake / "ruby").chmod(0o755)
    result = run_cli("validate", example_build, "--limit", "chef-deb01",
                     env={"PATH": f"{fake}{os.pathsep}{os.environ['PATH']}"})
    assert result.rc == 0, result.out + result.err
    assert "SKIP chef-deb01 /etc/cinc/client.rb (chef-config: not installed: chef-config/config)" \
        in result.out.splitlines()
    assert "warning: not installed, so not checked: chef-config (needs chef-config/config: " \
           "apt-get install ruby-chef-config)" in result.out
    assert "ok   chef-deb01 /etc/cinc/first-boot.json (chef first-boot json)" in result.out


def test_every_checker_names_what_brings_each_thing_it_needs():
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
    extras = pyproject["project"]["optional-dependencies"]
    apt = {line.split("#")[0].strip() for f in (ROOT / "requirements").glob("apt-*.txt")
           for line in f.read_text().splitlines()} - {""}
    for checker in all_checkers():
        for need in checker.needs():
            assert need in checker.brought_by, f"{checker.name}: nothing says what brings {need}"
            kind, _, package = checker.brought_by[need].partition(":")
            if kind == "apt":
                # scripts/test.sh installs it, so CI runs the checker.
                assert package in apt, f"{package} (for {need}) is in no requirements/apt-*.txt"
            else:
                assert kind == "pip", checker.brought_by[need]
                names = [req.split(">")[0].split("=")[0].split("[")[0] for req in extras[package]]
                assert need in names, f"pyproject's {package} extra does not bring {need}"
    # pip install '.[all]' brings every Python checker.
    assert any(re.fullmatch(r"bootstrap\[([a-z,]*,)?validate(,[a-z,]*)?\]", req) for req in extras["all"])
