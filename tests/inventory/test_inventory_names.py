"""Host names: each host's files go in ``build/<host>/``, so a name must be a safe folder name.

A name Ansible accepts and that is a safe folder name renders; any other is refused when the
inventory loads, in one line naming the file, the line and the name (escaped, so that a newline
or a control character shows). Two names that would share a folder on a case-insensitive or
normalising file system are refused too, naming both and where each is.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from support.ansible import inventory_list
from support.cli import one_error, run_cli, write_tree


def hosts_file(*names: str) -> str:
    """A YAML inventory listing the names under group web, one per line from line 4 on
    (each a JSON string, which YAML reads with the same escapes)."""
    lines = ["all:", "  children:", "    web:", "      hosts:"]
    lines += [f"        {json.dumps(name)}:" for name in names]
    return "\n".join(lines) + "\n"


SEPARATOR = "contains '/', a path separator"
CONTROL = "contains a control character"
REFUSED = {
    # path separators, and names that are not a folder of their own
    "a/b": SEPARATOR,
    "../evil": SEPARATOR,
    "/etc/cron.d/x": SEPARATOR,
    "web\\01": "contains '\\', a path separator on Windows",
    ".": "would name the build folder or its parent, not a folder of its own",
    "..": "would name the build folder or its parent, not a folder of its own",
    # hidden: the build's own state has such names
    ".bootstrap": "starts with '.': the build keeps its own files under hidden names, and a "
                  "hidden host folder is easy to miss",
    ".web1": "starts with '.': the build keeps its own files under hidden names, and a hidden "
             "host folder is easy to miss",
    # characters that break lines, hide, or cannot be a file name
    "a\x00b": f"{CONTROL} ('\\x00', U+0000)",
    "web1\n": f"{CONTROL} ('\\n', U+000A)",
    "web\r1": f"{CONTROL} ('\\r', U+000D)",
    "web\t1": f"{CONTROL} ('\\t', U+0009)",
    "web\x1b1": f"{CONTROL} ('\\x1b', U+001B)",
    "web\x7f": f"{CONTROL} ('\\x7f', U+007F)",
    "web\x851": f"{CONTROL} ('\\x85', U+0085)",
    "web\u200b1": "contains an invisible formatting character ('\\u200b', U+200B)",
    "web\u202e1bew": "contains an invisible formatting character ('\\u202e', U+202E)",
    "web\u20281": "contains a line separator ('\\u2028', U+2028)",
    "web\u20291": "contains a paragraph separator ('\\u2029', U+2029)",
    # longer than a file name may be
    "x" * 256: "is 256 bytes long in UTF-8, more than the 255 a folder name can have",
    "é" * 128: "is 256 bytes long in UTF-8, more than the 255 a folder name can have",
    # names the tool and Ansible give a meaning
    "_fleet": "is reserved: the build keeps fleet-wide files (IAM policies) in _fleet/",
    "_FLEET": "is reserved: the build keeps fleet-wide files (IAM policies) in _fleet/",
    "all": "is reserved: Ansible's name for the group of every host",
    "ungrouped": "is reserved: Ansible's name for the group of hosts in no other group",
}


@pytest.mark.parametrize("name", REFUSED, ids=[repr(n)[:40] for n in REFUSED])
def test_a_name_that_cannot_be_a_folder_is_refused_at_load(name, tmp_path):
    write_tree(tmp_path / "inv", {"hosts.yml": hosts_file("web1", name)})
    error = one_error(run_cli("inventory", "inv", "--list", cwd=tmp_path))
    assert error == f"error: inv/hosts.yml:6: host name {name!r} {REFUSED[name]}"


def test_a_lone_surrogate_from_a_json_inventory_is_refused(tmp_path):
    """JSON can spell a lone UTF-16 surrogate (YAML cannot): no file system name encodes it."""
    (tmp_path / "inv").mkdir()
    (tmp_path / "inv" / "hosts.json").write_text(
        '{"all": {"hosts": {\n  "web\\ud8001": {}\n}}}\n')
    error = one_error(run_cli("inventory", "inv", "--list", cwd=tmp_path))
    assert error.startswith("error: inv/hosts.json:2: ") and "surrogate" in error


def test_render_refuses_it_and_writes_nothing(tmp_path):
    write_tree(tmp_path / "inv", {"hosts.yml": hosts_file("web1", "../../escaped")})
    error = one_error(run_cli("render", "inv", "-o", "build", cwd=tmp_path))
    assert error == f"error: inv/hosts.yml:6: host name '../../escaped' {SEPARATOR}"
    assert not (tmp_path / "build").exists()
    assert not (tmp_path / "escaped").exists()


def test_a_host_named_like_the_fleet_folder_is_an_error_not_a_silent_drop(tmp_path):
    write_tree(tmp_path / "inv", {"hosts.yml": """\
        all:
          vars:
            bootstrap_roles: [base]
          hosts:
            web1:
            _fleet:
        """})
    error = one_error(run_cli("render", "inv", "-o", "build", cwd=tmp_path))
    assert error == ("error: inv/hosts.yml:6: host name '_fleet' is reserved: the build keeps "
                     "fleet-wide files (IAM policies) in _fleet/")


@pytest.mark.parametrize(("pattern", "name", "problem"), [
    ("web[1:3]/x", "web1/x", SEPARATOR),
    ("[a:c]/..", "a/..", SEPARATOR),
    ("x" * 254 + "[1:20]", "x" * 254 + "10",
     "is 256 bytes long in UTF-8, more than the 255 a folder name can have"),
    (".web[1:2]", ".web1", "starts with '.': the build keeps its own files under hidden names, "
                           "and a hidden host folder is easy to miss"),
])
def test_names_a_host_range_makes_are_checked_too(pattern, name, problem, tmp_path):
    write_tree(tmp_path / "inv", {"hosts.yml": hosts_file(pattern)})
    error = one_error(run_cli("inventory", "inv", "--list", cwd=tmp_path))
    assert error == f"error: inv/hosts.yml:5: host name {name!r} (from {pattern!r}) {problem}"


ACCEPTED = [
    "web01",
    "web01.eu-west-1.compute.internal",
    "10.0.0.1",
    "2001:db8::1",
    "_web",
    "-web",
    "web 01",
    "web~",
    "web:name",
    "ünïcødé-host",
    "日本語のホスト",
    "x" * 255,
    "é" * 127 + "x",  # 255 bytes in UTF-8
]


def test_every_safe_name_ansible_accepts_renders_in_its_own_folder(tmp_path):
    inv = write_tree(tmp_path / "inv", {"hosts.yml": hosts_file(*ACCEPTED).replace(
        "all:\n", "all:\n  vars:\n    bootstrap_roles: [base]\n", 1)})
    assert sorted(inventory_list(inv)["web"]["hosts"]) == sorted(ACCEPTED)
    result = run_cli("render", "inv", "-o", "build", cwd=tmp_path)
    assert result.rc == 0, result.err
    for name in ACCEPTED:
        assert (tmp_path / "build" / name / "files" / "etc" / "motd").is_file(), name
    listed = json.loads(run_cli("inventory", "inv", "--list", cwd=tmp_path).out)
    assert listed["web"]["hosts"] == ACCEPTED


@pytest.mark.parametrize(("first", "second"), [
    ("Web1", "web1"),  # case
    ("STRASSE", "straße"),  # case folding beyond lower()
    ("caf\u00e9", "cafe\u0301"),  # NFC and NFD: macOS stores the second form
    ("\ufb01le", "file"),  # NFKC: the ligature fi
    ("web\uff11", "web1"),  # NFKC: a full-width digit
])
def test_names_that_would_share_a_folder_are_an_error_naming_both(first, second, tmp_path):
    write_tree(tmp_path / "inv", {
        "a.yml": hosts_file("db1", first),
        "b.yml": hosts_file(second),
    })
    error = one_error(run_cli("inventory", "inv", "--list", cwd=tmp_path))
    assert error == (f"error: inv/b.yml:5: host names {first!r} (at inv/a.yml:6) and {second!r} "
                     "differ only in case or Unicode normalisation: they would share one folder "
                     "on a case-insensitive or normalising file system; rename one")


def test_the_same_name_twice_is_one_host_not_a_clash(tmp_path):
    write_tree(tmp_path / "inv", {"a.yml": hosts_file("Web1"), "b.yml": hosts_file("Web1")})
    result = run_cli("inventory", "inv", "--list", cwd=tmp_path)
    assert result.rc == 0, result.err
    assert json.loads(result.out)["web"]["hosts"] == ["Web1"]


@pytest.mark.parametrize("group", ["../secrets", "a/b", ".", "..", "web\n"])
def test_a_group_name_that_would_read_vars_from_elsewhere_is_refused(group, tmp_path):
    inv = write_tree(tmp_path / "inv", {
        "hosts.yml": f"all:\n  children:\n    {json.dumps(group)}:\n      hosts:\n        web1:\n",
        "secrets.yml": "stolen: true\n",
    })
    (inv / "group_vars").mkdir()
    error = one_error(run_cli("inventory", "inv", "--list", cwd=tmp_path))
    assert error == (f"error: inv/hosts.yml:3: group name {group!r} cannot name a file in "
                     "group_vars/ (no '/', control character, '.' or '..')")


def test_host_vars_are_looked_up_only_for_safe_names(tmp_path: Path):
    """A name like '../hosts' would read a file beside host_vars/ as the host's vars: it is
    refused before any host_vars/ lookup."""
    write_tree(tmp_path / "inv", {
        "hosts.yml": hosts_file("../group_vars/web"),
        "group_vars/web.yml": "leaked: true\n",
        "host_vars/web1.yml": "x: 1\n",
    })
    error = one_error(run_cli("inventory", "inv", "--list", cwd=tmp_path))
    assert error == f"error: inv/hosts.yml:5: host name '../group_vars/web' {SEPARATOR}"
