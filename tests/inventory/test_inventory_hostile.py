"""Whatever the inventory holds, a command ends with one line naming the file (and the line where
there is one), never a traceback and never a hang: files that are not text, files that are not
files, links that lead nowhere or in circles, YAML values Python cannot build, keys that are
not strings.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path

import pytest
from support.cli import one_error, run_cli, write_tree

HOSTS = """\
all:
  vars:
    bootstrap_roles: [base]
  children:
    web:
      hosts:
        web1:
"""


def inventory(base: Path) -> Path:
    return write_tree(base / "inv", {"hosts.yml": HOSTS})



def extra(path: str, content: bytes) -> Callable[[Path], None]:
    def make(inv: Path) -> None:
        (inv / path).parent.mkdir(parents=True, exist_ok=True)
        (inv / path).write_bytes(content)
    return make


def fifo(path: str) -> Callable[[Path], None]:
    def make(inv: Path) -> None:
        (inv / path).parent.mkdir(parents=True, exist_ok=True)
        (inv / path).unlink(missing_ok=True)
        os.mkfifo(inv / path)
    return make


def link(path: str, target: str) -> Callable[[Path], None]:
    def make(inv: Path) -> None:
        (inv / path).parent.mkdir(parents=True, exist_ok=True)
        (inv / path).unlink(missing_ok=True)
        (inv / path).symlink_to(target)
    return make


def host_var(text: str) -> Callable[[Path], None]:
    return extra("host_vars/web1.yml", text.encode())


NOT_FILE = "not a regular file (a FIFO, socket or device); give a file"
DANGLING = "cannot read file: a symbolic link to 'nowhere.yml', which does not exist"
LOOP = "a symbolic link loop: this folder leads back to one above it"
CASES: dict[str, tuple[Callable[[Path], None], str]] = {
    # not text
    "invalid UTF-8": (extra("more.yml", b"web:\n  hosts:\n    web\xff:\n"),
                      "inv/more.yml:3: not a UTF-8 text file: byte 0xff at offset 21: invalid "
                      "leading UTF-8 octet"),
    "a binary file": (extra("group_vars/web.yml", b"\x7fELF\x02\x01\x01\x00\x00"),
                      "inv/group_vars/web.yml:1: not a UTF-8 text file: byte 0x7f at offset 0: "
                      "control characters are not allowed"),
    "a NUL in a value": (host_var("port: 80\nname: a\x00b\n"),
                         "inv/host_vars/web1.yml:2: not a UTF-8 text file: byte 0x00 at offset "
                         "16: control characters are not allowed"),
    # not files
    "an inventory file that is a FIFO": (fifo("more.yml"), f"inv/more.yml: {NOT_FILE}"),
    "a group_vars file that is a FIFO": (fifo("group_vars/web.yml"),
                                         f"inv/group_vars/web.yml: {NOT_FILE}"),
    "a FIFO in a vars folder": (fifo("group_vars/web/ntp.yml"),
                                f"inv/group_vars/web/ntp.yml: {NOT_FILE}"),
    "a host_vars file that is a FIFO": (fifo("host_vars/web1"), f"inv/host_vars/web1: {NOT_FILE}"),
    "an inventory file that is a dangling link": (link("more.yml", "nowhere.yml"),
                                                  f"inv/more.yml: {DANGLING}"),
    "a vars file that is a dangling link": (link("host_vars/web1.yml", "nowhere.yml"),
                                            f"inv/host_vars/web1.yml: {DANGLING}"),
    "a dangling link in a vars folder": (link("group_vars/web/ntp.yml", "nowhere.yml"),
                                         f"inv/group_vars/web/ntp.yml: {DANGLING}"),
    "a vars file linked to itself": (link("group_vars/web.yml", "web.yml"),
                                     "inv/group_vars/web.yml: cannot read file: a loop of "
                                     "symbolic links"),
    "group_vars linked to itself": (link("group_vars", "group_vars"),
                                    "inv/group_vars: cannot read folder: Too many levels of "
                                    "symbolic links"),
    # links in circles
    "a vars folder linking to itself": (link("group_vars/web/again", "."),
                                        f"inv/group_vars/web/again: {LOOP}"),
    "a vars folder linking to its parent": (link("group_vars/web/up", ".."),
                                            f"inv/group_vars/web/up/web: {LOOP}"),
    "a vars subfolder linking back up": (link("group_vars/web/a/b/top", "../.."),
                                         f"inv/group_vars/web/a/b/top: {LOOP}"),
    # values Python cannot build
    "a date that does not exist": (host_var("port: 80\nsince: 2024-02-30\n"),
                                   "inv/host_vars/web1.yml:2:8: '2024-02-30' is not a valid "
                                   "timestamp (day is out of range for month); quote it to keep it "
                                   "a string"),
    "a boolean tag on a word": (host_var("enabled: !!bool maybe\n"),
                                "inv/host_vars/web1.yml:1:10: 'maybe' is not a valid bool; quote "
                                "it to keep it a string"),
    "an integer tag on a word": (host_var("port: !!int eighty\n"),
                                 "inv/host_vars/web1.yml:1:7: 'eighty' is not a valid int (invalid "
                                 "literal for int() with base 10: 'eighty'); quote it to keep it a "
                                 "string"),
    "a timestamp tag on a word": (host_var("at: !!timestamp noon\n"),
                                  "inv/host_vars/web1.yml:1:5: 'noon' is not a valid timestamp; "
                                  "quote it to keep it a string"),
    "an integer of 5,000 digits": (host_var("big: " + "9" * 5000 + "\n"),
                                   "inv/host_vars/web1.yml:1:6: '9999999999999999999999999999999999"
                                   "999...' is not a valid int (more than 4300 digits); quote it to "
                                   "keep it a string"),
    "an integer of 5,000 digits in JSON": (extra("host_vars/web1.json",
                                                 b'{"big":\n' + b"9" * 5000 + b"}\n"),
                                           "inv/host_vars/web1.json:2:1: '99999999999999999999999"
                                           "99999999999999...' is not a valid int (more than 4300 "
                                           "digits); quote it to keep it a string"),
    "a Python object tag": (host_var("x: !!python/object/apply:os.system [id]\n"),
                            "inv/host_vars/web1.yml:1:4: malformed YAML: unknown tag "
                            "'tag:yaml.org,2002:python/object/apply:os.system': quote the value"),
    "a tag of its own": (host_var("x: !mine 1\n"),
                         "inv/host_vars/web1.yml:1:4: malformed YAML: unknown tag '!mine': quote "
                         "the value"),
    "a list as a key": (host_var("? [a, b]\n: x\n"),
                        "inv/host_vars/web1.yml:1:3: malformed YAML: a list or a mapping cannot "
                        "be a key"),
    "a mapping as a key inside a value": (host_var("x:\n  {a: 1}: y\n"),
                                          "inv/host_vars/web1.yml:2:3: malformed YAML: a list or "
                                          "a mapping cannot be a key"),
    "two documents": (host_var("x: 1\n---\ny: 2\n"),
                      "inv/host_vars/web1.yml:2:1: malformed YAML: but found another document "
                      "(expected a single document in the stream started at line 1, column 1)"),
}


@pytest.mark.parametrize("command", [["inventory", "inv", "--list"],
                                     ["render", "inv", "-o", "build"]])
@pytest.mark.parametrize("case", CASES, ids=list(CASES))
def test_hostile_input_is_one_error_line(case, command, tmp_path):
    make, expected = CASES[case]
    make(inventory(tmp_path))
    result = run_cli(*command, cwd=tmp_path)
    assert one_error(result) == f"error: {expected}"
    assert not (tmp_path / "build").exists()


def test_the_inventory_argument_itself_a_fifo(tmp_path):
    os.mkfifo(tmp_path / "hosts.yml")
    error = one_error(run_cli("inventory", "hosts.yml", "--list", cwd=tmp_path))
    assert error == f"error: hosts.yml: {NOT_FILE}"


@pytest.mark.parametrize(("make", "expected"), [
    (lambda p: os.mkfifo(p), NOT_FILE),
    (lambda p: p.mkdir(), "a folder where a file was expected"),
    (lambda p: p.write_bytes(b"web1\n\xff\n"), "--limit: the limit file is not UTF-8 text"),
])
def test_a_limit_file_that_cannot_be_read(make, expected, tmp_path):
    inventory(tmp_path)
    make(tmp_path / "hosts.limit")
    error = one_error(run_cli("render", "inv", "-o", "build", "--limit", "@hosts.limit",
                              cwd=tmp_path))
    assert error == f"error: hosts.limit: {expected}"


def test_keys_that_are_not_strings_print_as_ansible_prints_them(tmp_path):
    """YAML reads ``2:``, ``yes:``, ``~:`` and ``1.5:`` as numbers, booleans and null; as keys they
    print as JSON keys, at any depth, through every command."""
    from support.ansible import inventory_list

    inv = inventory(tmp_path)
    (inv / "host_vars").mkdir()
    (inv / "host_vars" / "web1.yml").write_text(
        "2: int\nyes: bool\n~: none\n1.5: float\nnested: {1: a, no: b, 2.5: c}\n")
    listed = run_cli("inventory", "inv", "--list", cwd=tmp_path)
    assert listed.rc == 0, listed.err
    assert json.loads(listed.out) == inventory_list(inv)
    # A date as a key: ansible-core 2.19 fails with a traceback; bootstrap prints the ISO date.
    (inv / "host_vars" / "web1.yml").write_text("2024-01-01: date\nnested: {2024-01-01: c}\n")
    for command in (["inventory", "inv", "--host", "web1"],
                    ["inventory", "inv", "--explain", "web1", "nested"],
                    ["render", "inv", "-o", "build"]):
        result = run_cli(*command, cwd=tmp_path)
        assert result.rc == 0 and "Traceback" not in result.err, result.err
    shown = json.loads(run_cli("inventory", "inv", "--host", "web1", cwd=tmp_path).out)
    assert shown == {"bootstrap_roles": ["base"], "2024-01-01": "date",
                     "nested": {"2024-01-01": "c"}}


def test_numbers_too_large_for_a_float_print_as_ansible_prints_them(tmp_path):
    from support.ansible import inventory_list

    inv = inventory(tmp_path)
    (inv / "host_vars").mkdir()
    (inv / "host_vars" / "web1.yml").write_text("big: 1.0e+999\nsmall: -.inf\nhuge: "
                                                 + "9" * 4000 + "\n")
    result = run_cli("inventory", "inv", "--list", cwd=tmp_path)
    assert result.rc == 0, result.err
    assert '"big": Infinity' in result.out and '"small": -Infinity' in result.out
    assert json.loads(result.out) == inventory_list(inv)
    assert run_cli("render", "inv", "-o", "build", cwd=tmp_path).rc == 0
