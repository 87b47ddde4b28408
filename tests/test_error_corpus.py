"""Every command on a corpus of broken inputs: a non-zero exit, one ``error:`` line that names
what is wrong (file:line, host, key where there is one), and never a traceback.

Each case builds its broken input in a fresh folder from a small valid inventory and its build,
then runs one command as a user would.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest
from support import waits
from support.cli import ROOT, run_cli, write_tree

INVENTORY = {
    "hosts.yml": """
        all:
          vars:
            bootstrap_roles: [base]
          children:
            web:
              hosts:
                web1:
                web2:
        """,
}


@dataclass(frozen=True)
class Case:
    name: str
    # Makes the broken input under the folder it is given and returns the command's arguments.
    setup: Callable[[Path], list[str]]
    # Each must appear in the error line (file names, hosts, keys, what is wrong).
    expect: tuple[str, ...] = ()
    # An old build is untrusted input that render may also ignore and replace: then it must
    # leave a sound build instead of an error.
    may_replace: bool = False


def _inventory(base: Path, extra: dict[str, str] | None = None) -> Path:
    return write_tree(base / "inv", {**INVENTORY, **(extra or {})})


def _example(base: Path) -> Path:
    """A copy of the example inventory, whose EC2 hosts launch and terminate know."""
    return Path(shutil.copytree(ROOT / "inventory", base / "example"))


def _built(base: Path) -> tuple[Path, Path]:
    inv = _inventory(base)
    out = base / "build"
    result = run_cli("render", inv, "-o", out)
    assert result.rc == 0, result.err
    return inv, out


def _hosts_file(text: str) -> Callable[[Path], list[str]]:
    def setup(base: Path) -> list[str]:
        inv = write_tree(base / "inv", {"hosts.yml": text})
        return ["render", str(inv), "-o", str(base / "build")]
    return setup


def _deep_nesting(base: Path) -> list[str]:
    depth = 5000
    value = "[" * depth + "]" * depth
    inv = write_tree(base / "inv", {"hosts.yml": f"all:\n  hosts:\n    web1:\n      deep: {value}\n"})
    return ["inventory", str(inv), "--list"]


def _binary_inventory(base: Path) -> list[str]:
    inv = base / "inv"
    inv.mkdir()
    (inv / "hosts.yml").write_bytes(b"all:\n  hosts:\n    web1: {x: \xff\xfe}\n")
    return ["inventory", str(inv), "--list"]


def _inventory_missing(base: Path) -> list[str]:
    return ["inventory", str(base / "nowhere"), "--list"]


def _output_is_file(base: Path) -> list[str]:
    inv = _inventory(base)
    (base / "out").write_text("not a folder\n")
    return ["render", str(inv), "-o", str(base / "out")]


def _output_under_file(base: Path) -> list[str]:
    inv = _inventory(base)
    (base / "out").write_text("not a folder\n")
    return ["render", str(inv), "-o", str(base / "out" / "build")]


def _output_dangling_link(base: Path) -> list[str]:
    inv = _inventory(base)
    (base / "out").symlink_to(base / "gone" / "build")
    return ["render", str(inv), "-o", str(base / "out")]


def _corrupt_manifest(command: str) -> Callable[[Path], list[str]]:
    def setup(base: Path) -> list[str]:
        inv, out = _built(base)
        (out / "web1" / "manifest.json").write_text('{"files": [{"path": 3}')
        if command == "render":
            return ["render", str(inv), "-o", str(out)]
        if command == "validate":
            return ["validate", str(out)]
        return [command, str(inv), "-b", str(out), "--limit", "web1", "--timeout", "1",
                "--retries", "0"]
    return setup


def _manifest_wrong_types(base: Path) -> list[str]:
    inv, out = _built(base)
    (out / "web1" / "manifest.json").write_text(
        '{"host": "web1", "roles": "base", "files": [{"dest": 1, "path": null, "mode": [],'
        ' "owner": {}, "sha256": 5}], "outputs": {}}\n')
    return ["push", str(inv), "-b", str(out), "--limit", "web1", "--timeout", "1",
            "--retries", "0"]


def _dangling_link_in_build(base: Path) -> list[str]:
    _inv, out = _built(base)
    motd = out / "web1" / "files" / "etc" / "motd"
    motd.unlink()
    motd.symlink_to(base / "gone")
    return ["validate", str(out)]


def _build_missing(command: str) -> Callable[[Path], list[str]]:
    def setup(base: Path) -> list[str]:
        inv = _inventory(base)
        if command == "validate":
            return ["validate", str(base / "nobuild")]
        if command == "launch":
            example = _example(base)
            return ["launch", str(example), "backup01", "-b", str(base / "nobuild"), "--dry-run"]
        return [command, str(inv), "-b", str(base / "nobuild"), "--timeout", "1", "--retries", "0"]
    return setup


def _build_is_file(base: Path) -> list[str]:
    (base / "build").write_text("x\n")
    return ["validate", str(base / "build")]


def _limit_nothing(command: str) -> Callable[[Path], list[str]]:
    def setup(base: Path) -> list[str]:
        inv, out = _built(base)
        if command == "render":
            return ["render", str(inv), "-o", str(out), "--limit", "nosuchhost"]
        return [command, str(inv), "-b", str(out), "--limit", "nosuchhost"]
    return setup


def _bad_regex_limit(base: Path) -> list[str]:
    inv = _inventory(base)
    return ["render", str(inv), "-o", str(base / "build"), "--limit", "~web[("]


def _aws_without_role(base: Path) -> list[str]:
    inv = write_tree(base / "inv", {"hosts.yml": """
        all:
          vars:
            bootstrap_roles: [base]
          hosts:
            web1:
              aws: {region: eu-west-1, ami: ami-0123456789abcdef0, instance_type: t3.small}
        """})
    out = base / "build"
    run_cli("render", inv, "-o", out)
    return ["launch", str(inv), "web1", "-b", str(out), "--dry-run"]


def _write_inventory_corrupt(base: Path) -> list[str]:
    example = _example(base)
    target = base / "launched.yml"
    target.write_text("all: [unclosed\n")
    # Read before any call: the endpoint refuses connections, so only the file can be named.
    return ["terminate", str(example), "backup01", "--endpoint-url", "http://127.0.0.1:9",
            "--write-inventory", str(target)]


def _dx_import(content: bytes | None, name: str = "vifs.json") -> Callable[[Path], list[str]]:
    def setup(base: Path) -> list[str]:
        path = base / name
        if content is None:
            path.mkdir()
        else:
            path.write_bytes(content)
        return ["dx", "import", str(path)]
    return setup


CASES = [
    Case("host name with a slash", _hosts_file("all:\n  hosts:\n    ../evil:\n"), ("hosts.yml",)),
    Case("host name absolute", _hosts_file("all:\n  hosts:\n    /etc/x:\n"), ("hosts.yml",)),
    Case("host name with a newline", _hosts_file('all:\n  hosts:\n    "a\\nb":\n'), ("hosts.yml",)),
    Case("host named like the fleet folder", _hosts_file("all:\n  hosts:\n    _fleet:\n"),
         ("hosts.yml", "_fleet")),
    Case("inventory nested deeper than any inventory", _deep_nesting, ("hosts.yml",)),
    Case("inventory that is not UTF-8", _binary_inventory, ("hosts.yml",)),
    Case("inventory that does not exist", _inventory_missing, ("nowhere",)),
    Case("render -o a file", _output_is_file, ("out",)),
    Case("render -o below a file", _output_under_file, ("out",)),
    Case("render -o a dangling link", _output_dangling_link, ("out",)),
    Case("render over a corrupt manifest", _corrupt_manifest("render"), ("web1",), may_replace=True),
    Case("validate a corrupt manifest", _corrupt_manifest("validate"), ("web1",)),
    Case("push a corrupt manifest", _corrupt_manifest("push"), ("web1",)),
    Case("verify a corrupt manifest", _corrupt_manifest("verify"), ("web1",)),
    Case("push a manifest of wrong types", _manifest_wrong_types, ("web1",)),
    Case("validate a build with a dangling link", _dangling_link_in_build, ("web1",)),
    Case("validate a missing build", _build_missing("validate"), ("nobuild",)),
    Case("validate a build that is a file", _build_is_file, ("build",)),
    Case("push without a build", _build_missing("push"), ("nobuild",)),
    Case("verify without a build", _build_missing("verify"), ("nobuild",)),
    Case("launch without a build", _build_missing("launch"), ("nobuild",)),
    Case("render --limit matching nothing", _limit_nothing("render"), ("nosuchhost",)),
    Case("push --limit matching nothing", _limit_nothing("push"), ("nosuchhost",)),
    Case("render --limit with a broken regex", _bad_regex_limit, ("web[(", "unclosed")),
    Case("launch a host with aws settings but not the ec2-instance role", _aws_without_role,
         ("web1", "ec2-instance")),
    Case("terminate --write-inventory a corrupt file", _write_inventory_corrupt, ("launched.yml",)),
    Case("dx import of a file that is not JSON", _dx_import(b"{not json"), ("vifs.json",)),
    Case("dx import of an empty file", _dx_import(b""), ("vifs.json",)),
    Case("dx import of JSON of the wrong shape", _dx_import(b'{"virtualInterfaces": 5}'),
         ("vifs.json",)),
    Case("dx import of a VIF without fields", _dx_import(b'{"virtualInterfaces": [{}]}'),
         ("vifs.json",)),
    Case("dx import of XML that is not a router config",
         _dx_import(b"<?xml version='1.0'?><html><body/></html>", "config.xml"), ("config.xml",)),
    Case("dx import of a binary file", _dx_import(b"\x00\xff\xfe" * 100, "vifs.bin"), ("vifs.bin",)),
    Case("dx import of a folder", _dx_import(None, "folder.json"), ("folder.json",)),
    Case("dx import of a missing file", lambda base: ["dx", "import", str(base / "gone.json")],
         ("gone.json",)),
]


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_broken_input_gives_one_clear_error(case: Case, tmp_path: Path) -> None:
    args = case.setup(tmp_path)
    result = run_cli(*args, cwd=tmp_path, env={"AWS_ACCESS_KEY_ID": "testing",
                                               "AWS_SECRET_ACCESS_KEY": "testing",
                                               "AWS_DEFAULT_REGION": "eu-west-1",
                                               "AWS_MAX_ATTEMPTS": "1"})
    assert "Traceback" not in result.err, result.err
    if case.may_replace and result.rc == 0:
        for manifest in (tmp_path / "build").glob("*/manifest.json"):
            assert isinstance(json.loads(manifest.read_text())["files"], list)
        return
    assert result.rc != 0, (result.out, result.err)
    errors = [line for line in result.err.splitlines() if line.startswith("error:")]
    assert len(errors) == 1, result.err
    for word in case.expect:
        assert word in errors[0], errors[0]


def test_inventory_list_into_a_closed_pipe(tmp_path: Path) -> None:
    """``bootstrap inventory --list | head -1``: the reader goes away, the tool ends quietly."""
    inv = write_tree(tmp_path / "inv", {"hosts.yml": "all:\n  hosts:\n" + "".join(
        f"    web{i:04d}:\n      note: {'x' * 200}\n" for i in range(3000))})
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.run(
        f"'{sys.executable}' -m bootstrap inventory '{inv}' --list | head -1",
        shell=True, capture_output=True, text=True, env=env, timeout=waits.allowance(600))
    assert proc.stdout == "{\n"
    assert "Traceback" not in proc.stderr, proc.stderr
    assert "BrokenPipe" not in proc.stderr, proc.stderr
