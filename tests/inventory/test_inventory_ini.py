"""INI inventories: read as ansible-core's ``ini`` inventory plugin reads them.

Each differential case is read by ``ansible-inventory --list`` (with its yaml and ini plugins, in
Ansible's default order) and by ``bootstrap inventory --list``: their JSON must be equal. A few
values are also checked by name, so that a case which stopped exercising its rule fails too.
Broken INI is one error naming file:line; an INI inventory renders the same build as the YAML
inventory it is equivalent to.
"""

from __future__ import annotations

import json
import os
import shlex
import shutil
import tempfile
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from support import ansible
from support.cli import ROOT, one_error, run_cli, write_tree

from bootstrap.inventory.ini import split_words

PLUGINS = "yaml,ini"  # Ansible's default order, less the plugins no file here is for


def both_lists(source: Path) -> tuple[dict[str, Any], dict[str, Any]]:
    theirs = ansible.inventory_list(source, plugins=PLUGINS)
    result = run_cli("inventory", source, "--list")
    assert result.rc == 0 and "Traceback" not in result.err, result.err
    return theirs, json.loads(result.out)


def same_as_ansible(source: Path) -> dict[str, Any]:
    theirs, ours = both_lists(source)
    assert ours["_meta"]["hostvars"] == theirs["_meta"]["hostvars"]
    assert ours == theirs
    return ours


TYPING = """\
# Host-line values and :vars values are both typed as Python literals, else kept as text.
[typed]
h1 int=23 neg=-7 float=1.5 exp=1e3 true=True false=False yes=yes no=no none=None TRUE=TRUE
h2 spaced="hello world" single='it is' quoted="'23'" dquoted='"x y"' empty= eq=a=b
h3 list="[1, 'two', 3.0]" dict="{'a': 1, 'b': [True, None]}" tuple="(1, 2)" set="{3, 1, 2}"
h4 hex=0x1F octal=0o17 under=1_000 cplx=1j dots=... str_int="'0755'" lead=0755
h5 path=/srv/www url=http://x/y?a=1 hash=a#b
h6 ansible_port=2222 ansible_host=10.0.0.6   # a comment after the pairs

[typed:vars]
v_int=23
v_bool=True
v_text=FALSE
v_spaced = hello world
v_quoted='hello world'
v_list=[1, 'a']
v_dict={'k': {'n': 1}}
v_empty=
v_comment_text=foo # kept: not a literal, so the whole text is the value
v_comment_int=42 # a literal with a Python comment: the number
v_semicolon=a;b
v_eq=x=y
"""


def test_values_are_typed_as_ansible_types_them(tmp_path):
    inv = write_tree(tmp_path, {"hosts": TYPING}) / "hosts"
    ours = same_as_ansible(inv)
    h1, h2, h3, h4, h5, h6 = (ours["_meta"]["hostvars"][f"h{i}"] for i in range(1, 7))
    assert (h1["int"], h1["float"], h1["exp"], h1["true"], h1["yes"], h1["none"]) == (
        23, 1.5, 1000.0, True, "yes", None)
    assert h1["TRUE"] == "TRUE"
    assert (h2["spaced"], h2["quoted"], h2["empty"], h2["eq"]) == ("hello world", "23", "", "a=b")
    assert h3["list"] == [1, "two", 3.0] and h3["tuple"] == [1, 2] and h3["set"] == [1, 2, 3]
    assert h3["dict"] == {"a": 1, "b": [True, None]}
    assert (h4["hex"], h4["cplx"], h4["dots"], h4["lead"]) == (31, "1j", "...", "0755")
    assert h5["hash"] == "a" and h5["url"] == "http://x/y?a=1"
    assert h6["ansible_port"] == 2222
    assert (h1["v_int"], h1["v_bool"], h1["v_text"], h1["v_spaced"]) == (23, True, "FALSE",
                                                                        "hello world")
    assert h1["v_comment_text"].startswith("foo # kept") and h1["v_comment_int"] == 42
    assert (h1["v_empty"], h1["v_semicolon"], h1["v_eq"]) == ("", "a;b", "x=y")


def test_a_bytes_literal_is_its_text(tmp_path):
    """Ansible keeps b'raw' as the text, marked unsafe to template (printed as
    {"__ansible_unsafe": "raw"}); bootstrap never templates inventory values: the text."""
    (tmp_path / "hosts").write_text("h1 raw=\"b'raw'\"\n")
    result = run_cli("inventory", "hosts", "--host", "h1", cwd=tmp_path)
    assert json.loads(result.out)["raw"] == "raw"
    assert result.err == ""


@pytest.mark.parametrize("literal", ["b'\\xff'", "'\\udc80'", "['ok', u'\\ud800']"])
def test_a_literal_with_no_utf8_form_is_refused(literal, tmp_path):
    """Bytes that are not UTF-8, or half of a UTF-16 pair, cannot be written to a file or JSON."""
    (tmp_path / "hosts").write_text(f'[web]\nh1 ok=1 bad="{literal}"\n')
    one_error(run_cli("inventory", "hosts", "--list", cwd=tmp_path), "hosts:2:", "key bad",
              "no UTF-8 form")


RANGES = """\
; hosts before any section are 'ungrouped'
lone
lone2:2200 ansible_user=admin
[web]
web[01:03]
web[08:10:2].example.com
app-[a:c] tier=front
db:2222
10.0.0.[1:2]:2022
[2001:db8::1]:2201
2001:db8::2
lone2
[more]
web01:9999
lone2
"""


def test_ranges_ports_and_ungrouped_hosts_as_in_ansible(tmp_path):
    inv = write_tree(tmp_path, {"inventory.ini": RANGES}) / "inventory.ini"
    ours = same_as_ansible(inv)
    hostvars = ours["_meta"]["hostvars"]
    assert ours["web"]["hosts"][:5] == ["web01", "web02", "web03", "web08.example.com",
                                        "web10.example.com"]
    assert hostvars["app-b"] == {"tier": "front"}
    assert hostvars["db"]["ansible_port"] == 2222
    assert hostvars["10.0.0.2"]["ansible_port"] == 2022
    assert hostvars["2001:db8::1"]["ansible_port"] == 2201
    assert "2001:db8::2" in ours["web"]["hosts"] and "2001:db8::2" not in hostvars
    assert "web01" not in hostvars  # a port counts where the host first appears: no vars
    assert hostvars["lone2"] == {"ansible_port": 2200, "ansible_user": "admin"}
    assert ours["ungrouped"]["hosts"] == ["lone"]  # lone2 joined groups: no longer ungrouped


CHILDREN = """\
[all:vars]
level=all

[top:children]
middle     # declared further down
leaf

[middle:vars]
level=middle

[middle:children]
leaf

[leaf]
h1

[leaf:vars]
ansible_group_priority=10
level=leaf

[other:children]
leaf

[other]
h2

[other:vars]
level=other
ansible_group_priority=20
"""


def test_children_declared_later_link_as_in_ansible(tmp_path):
    inv = write_tree(tmp_path, {"hosts.cfg.ini": CHILDREN}) / "hosts.cfg.ini"
    ours = same_as_ansible(inv)
    assert sorted(ours["top"]["children"]) == ["leaf", "middle"]
    assert ours["middle"]["children"] == ["leaf"]
    assert ours["_meta"]["hostvars"]["h1"]["level"] == "leaf"  # the deepest group wins
    assert "ansible_group_priority" not in ours["_meta"]["hostvars"]["h1"]
    assert ours["_meta"]["hostvars"]["h2"]["level"] == "other"


def test_group_priority_from_ini_breaks_ties_as_in_ansible(tmp_path):
    inv = write_tree(tmp_path, {"hosts": """\
        [a]
        h1
        [a:vars]
        color=a
        ansible_group_priority=5
        [b]
        h1
        [b:vars]
        color=b
        """}) / "hosts"
    ours = same_as_ansible(inv)
    assert ours["_meta"]["hostvars"]["h1"]["color"] == "a"  # priority 5 beats b's 1


def test_a_folder_mixing_ini_and_yaml_with_vars_folders_as_in_ansible(tmp_path):
    inv = write_tree(tmp_path / "inv", {
        "10-hosts": """\
            [web]
            web[1:2] role=web
            [web:vars]
            from_ini=True
            [edge:children]
            web
            """,
        "20-more.yml": """\
            edge:
              vars:
                from_yaml: 1
              hosts:
                lb1:
            db:
              hosts:
                db1:
              children:
                web:
            """,
        "30-late.ini": """\
            [db:vars]
            port=5432
            [late:children]
            db
            """,
        "notes.txt": "not an inventory\n",
        "old.bak": "[web]\nghost\n",
        ".hidden": "[web]\nghost\n",
        "README.md": "# not read\n",
        "group_vars/web.yml": "gv: web\nfrom_ini: overridden\n",
        "group_vars/all": "everyone: true\n",
        "host_vars/web1/a.yml": "hv: 1\n",
    })
    ours = same_as_ansible(inv)
    hostvars = ours["_meta"]["hostvars"]
    assert "ghost" not in hostvars
    assert hostvars["web1"]["from_ini"] == "overridden" and hostvars["web1"]["hv"] == 1
    assert hostvars["web2"]["port"] == 5432 and hostvars["web2"]["from_yaml"] == 1
    assert ours["late"]["children"] == ["db"]


def test_host_and_explain_show_an_ini_inventory(tmp_path):
    inv = write_tree(tmp_path, {"hosts": CHILDREN}) / "hosts"
    proc = ansible.run("ansible-inventory", "-i", inv, "--host", "h1", plugins=PLUGINS)
    assert proc.returncode == 0, proc.stderr
    host = run_cli("inventory", inv, "--host", "h1")
    assert host.rc == 0 and json.loads(host.out) == json.loads(proc.stdout)
    explain = run_cli("inventory", "hosts", "--explain", "h1", "level", cwd=tmp_path)
    assert explain.rc == 0, explain.err
    # The winner and what it overrode, each at its INI line.
    assert explain.out.splitlines()[:2] == ['h1: level = "leaf"',
                                            "  from hosts:19 (group leaf (inline))"]
    assert [line.split(" from ")[1] for line in explain.out.splitlines()[2:]] == [
        "hosts:9 (group middle (inline))", "hosts:28 (group other (inline))",
        "hosts:2 (group all (inline))"]


# -- errors: one line naming file:line, exit 1 -----------------------------------------------------


@pytest.mark.parametrize(("text", "line", "words"), [
    ("[web]\nh1\n[web:hosts2]\n", 3, ["section [web:hosts2] has unknown type 'hosts2'"]),
    ("[web]\nh1\n[web:vars]\nnot a pair\n", 4, ["expected key=value in section [web:vars]",
                                                 "'not a pair'"]),
    ("[web servers]\nh1\n", 1, ["invalid section entry '[web servers]'"]),
    ("[web]\nh1 name='unclosed\n", 2, ["cannot split host line", "No closing quotation"]),
    ("[web]\nh1 loose\n", 2, ["expected key=value after the host, found 'loose'"]),
    ("[web]\nh1 ; a comment the plugin does not know\n", 2, ["found ';'"]),
    ("[web] ; comment\nh1\n", 1, ["found ';'"]),
    ("[web:children]\nmissing\n[web]\nh1\n", 2,
     ["section [web:children] names group 'missing', which is not defined"]),
    ("[web]\nh1\n[db:vars]\nx=1\n", 3, ["section [db:vars] is for a group that is not defined"]),
    ("[web:children]\na:b\n", 2, ["expected a group name in section [web:children]"]),
    ("[web]\nh1:\n", 2, ["host pattern 'h1:' ends with ':'"]),
    ("# a YAML inventory\nall:\n  hosts:\n    h1:\n", 2,
     ["host pattern 'all:' ends with ':'", "a YAML inventory needs a .yml"]),
    ("---\n", 1, ["'---' is the start of a YAML document"]),
    ("[web]\nweb[3:1]\n", 2, ["the range expands to no host"]),
    ("[web]\nweb[1:999999999]\n", 2, ["more than the limit of 250,000"]),
    ("[web]\n.hidden\n", 2, ["host name '.hidden'"]),
    ("[web]\nweb1\n[web1]\nh2\n", 2, ["'web1' is both a host and a group"]),
    ("[a:children]\nb\n[b:children]\na\n", 4, ["makes a cycle"]),
    ("[a]\nh1\n[a:vars]\nansible_group_priority=high\n", 4,
     ["ansible_group_priority must be an integer"]),
    ("[a/b]\nh1\n", 1, ["group name 'a/b' cannot name a file in group_vars/"]),
    ("[web]\nh1 deep=" + "[" * 150 + "]" * 150 + "\n", 2,
     ["key deep: values nested more than 100 levels deep"]),
])
def test_broken_ini_is_one_error_at_its_line(text, line, words, tmp_path):
    (tmp_path / "hosts").write_text(text)
    error = one_error(run_cli("inventory", "hosts", "--list", cwd=tmp_path), *words)
    assert error.startswith(f"error: hosts:{line}: "), error


def test_ansible_refuses_what_the_errors_refuse(tmp_path):
    """The plugin's own errors are Ansible's too (the ones bootstrap adds are its own tests')."""
    for index, text in enumerate(["[web:hosts2]\n", "[web:vars]\nnot a pair\n[web]\n",
                                  "[web:children]\nmissing\n", "[web]\nh1 loose\n"]):
        (tmp_path / f"bad{index}").write_text(text)
        proc = ansible.run("ansible-inventory", "-i", tmp_path / f"bad{index}", "--list",
                           plugins=PLUGINS)
        assert proc.returncode != 0, text


def test_bytes_that_are_not_utf8_are_refused_outside_comments(tmp_path):
    (tmp_path / "hosts").write_bytes(b"# caf\xe9 is fine here\n[web]\nh\xe91\n")
    one_error(run_cli("inventory", "hosts", "--list", cwd=tmp_path), "hosts:3:", "not a UTF-8")
    (tmp_path / "hosts").write_bytes(b"# caf\xe9 is fine here\n[web]\nh1\n")
    assert run_cli("inventory", "hosts", "--list", cwd=tmp_path).rc == 0


def test_files_ansible_reads_with_other_plugins_are_refused(tmp_path):
    inv = write_tree(tmp_path / "inv", {"hosts": "[web]\nh1\n", "dynamic": "#!/bin/sh\necho {}\n"})
    os.chmod(inv / "dynamic", 0o755)
    one_error(run_cli("inventory", "inv", "--list", cwd=tmp_path), "inv/dynamic:",
              "inventory script")
    os.chmod(inv / "dynamic", 0o644)  # not executable: Ansible reads it as INI, and so does this
    one_error(run_cli("inventory", "inv", "--list", cwd=tmp_path), "inv/dynamic:2:")
    (inv / "dynamic").unlink()
    (inv / "hosts.toml").write_text("[web.hosts.h1]\n")
    one_error(run_cli("inventory", "inv", "--list", cwd=tmp_path), "inv/hosts.toml:", "TOML")


def test_an_ini_file_over_64_mib_is_refused_before_it_is_read(tmp_path):
    with (tmp_path / "hosts").open("wb") as handle:
        handle.truncate(64 * 2**20 + 1)
    one_error(run_cli("inventory", "hosts", "--list", cwd=tmp_path), "hosts:",
              "larger than the limit of 64 MiB")


def test_more_hosts_than_the_inventory_limit_in_ini(tmp_path):
    (tmp_path / "hosts").write_text("[web]\nweb[1:200000]\n[db]\nweb[1:10]\ndb[1:50001]\n")
    error = one_error(run_cli("inventory", "hosts", "--list", cwd=tmp_path))
    assert error == "error: hosts:5: more than 250,000 hosts in the inventory (the limit)"


def test_an_error_in_a_host_value_names_its_host_line(tmp_path):
    """A value a later step refuses still points at the INI line that set it."""
    (tmp_path / "hosts").write_text("[web]\nh1\nh2 bootstrap_roles=\"['no-such-role']\"\n")
    result = run_cli("render", "hosts", "-o", "build", cwd=tmp_path)
    error = one_error(result, "no-such-role")
    assert "hosts:3" in error, error


# -- the same build from INI as from YAML ---------------------------------------------------------

EXAMPLE_INI = """\
[all:vars]
bootstrap_roles=['base']
ansible_user=admin

[all:children]
web
db
ops
eu
us

[web]
web[01:03]

[web:vars]
http_port=8080

[db]
db-[a:b] ansible_become=True

[ops]
bastion ansible_host=127.0.0.1 ansible_port=2222
monitor
cache01 ansible_host=127.0.0.1

[eu:children]
web

[eu]
db-a

[eu:vars]
region=eu-west-1

[us]
db-b
monitor

[us:vars]
region=us-east-1
"""


def test_an_ini_inventory_renders_the_build_of_its_yaml_twin(tmp_path):
    """The example inventory, its hosts.yml written as INI: the same hosts, vars and build."""
    yaml_inv = tmp_path / "yaml"
    shutil.copytree(ROOT / "inventory", yaml_inv)
    ini_inv = tmp_path / "ini"
    shutil.copytree(ROOT / "inventory", ini_inv)
    (ini_inv / "hosts.yml").unlink()
    (ini_inv / "hosts").write_text(EXAMPLE_INI)
    yaml_list = json.loads(run_cli("inventory", yaml_inv, "--list").out)
    ini_list = json.loads(run_cli("inventory", ini_inv, "--list").out)
    assert ini_list == yaml_list
    for name, inv in (("yaml", yaml_inv), ("ini", ini_inv)):
        result = run_cli("render", inv, "-o", tmp_path / f"build-{name}", cwd=tmp_path)
        assert result.rc == 0, result.err
    yaml_files = tree(tmp_path / "build-yaml")
    assert len(yaml_files) > 20
    assert tree(tmp_path / "build-ini") == yaml_files


def tree(base: Path) -> dict[str, bytes]:
    """The build's files; its render cache is left out (the stamp digests the inventory's own
    files, which differ between the twins by design)."""
    return {str(p.relative_to(base)): p.read_bytes() for p in sorted(base.rglob("*"))
            if p.is_file() and not p.relative_to(base).is_relative_to(".bootstrap/cache")}


# -- random INI inventories, read by both tools ---------------------------------------------------

INI_GROUPS = ("web", "db", "app_1", "Edge", "lb-x", "g.v", "zz")
INI_HOSTS = ("h1", "h2", "h1:2222", "web[1:3]", "n[01:02]:2022", "10.0.0.[1:2]", "[2001:db8::1]:22",
             "2001:db8::2", "x-[a:c:2]", "'h 3'")
INI_KEYS = ("k1", "k2", "color", "ansible_port", "ansible_host", "bootstrap_roles")
# Value texts as written after '=': every typing rule of the plugin, on host lines and in :vars.
INI_VALUES = ("23", "-7", "0755", "-0", "00", "+5", "12345678901234567890123", "0x1F", "1_000",
              "1.5", "1e3", "True", "true", "False", "None",
              "yes", "FALSE", "text", "", "'23'", '"x y"', "'a b'", "[1, 'a']", "(1, 2)",
              "{'k': [True, None]}", "{3, 1}", "1j", "...", "a=b", "a;b", "http://x/y",
              "'it''s'", "[1,", "u'\u00e9'", "42 # note")
INI_FUZZ = settings(max_examples=int(os.environ.get("BOOTSTRAP_FUZZ_EXAMPLES", "0")) or 8,
                    derandomize="BOOTSTRAP_FUZZ_EXAMPLES" not in os.environ, deadline=None,
                    database=None, suppress_health_check=[HealthCheck.too_slow])


def host_value(text: str) -> str:
    """A value as a host line needs it: one shell word (quoted when it holds a space or a
    character the shell splitting would read), typed the same way as in a :vars line."""
    if text and not any(c in text for c in " '\"#;\\"):
        return text
    return shlex.quote(text)


@st.composite
def ini_section(draw: st.DrawFn, name: str, index: int) -> list[str]:
    kind = draw(st.sampled_from(("hosts", "hosts", "vars", "children")))
    lines = [f"[{name}]" if kind == "hosts" else f"[{name}:{kind}]"]
    if kind == "hosts":
        for pattern in draw(st.lists(st.sampled_from(INI_HOSTS), max_size=3)):
            pairs = draw(st.lists(st.tuples(st.sampled_from(INI_KEYS[:3]),
                                            st.sampled_from(INI_VALUES)), max_size=3))
            lines.append(" ".join([pattern, *(f"{k}={host_value(v)}" for k, v in pairs)]))
    elif kind == "vars":
        for key in draw(st.lists(st.sampled_from(INI_KEYS), max_size=3)):
            value = draw(st.sampled_from(INI_VALUES))
            if key == "ansible_port":
                value = draw(st.sampled_from(("22", "'22'", "0x16")))
            elif key == "bootstrap_roles":
                value = draw(st.sampled_from(("['base']", "['web', 'base']", "[]")))
            lines.append(f"{key}={value}" if draw(st.booleans()) else f"{key} = {value}")
        if draw(st.integers(0, 3)) == 0:
            lines.append(f"ansible_group_priority={draw(st.sampled_from(('1', '5', '20')))}")
    else:
        later = INI_GROUPS[index + 1:]  # children only later in the list: no cycle is drawn
        for child in draw(st.lists(st.sampled_from(later), max_size=2, unique=True)) if later else ():
            lines.append(child)
    return lines


@st.composite
def ini_inventory(draw: st.DrawFn) -> str:
    lines: list[str] = []
    if draw(st.booleans()):
        lines.append(f"{draw(st.sampled_from(INI_HOSTS))} k1={draw(st.sampled_from(INI_VALUES[:6]))}")
    used: set[str] = set()
    for name in draw(st.lists(st.sampled_from(("all", *INI_GROUPS)), min_size=1, max_size=6)):
        lines += draw(ini_section(name, INI_GROUPS.index(name) if name in INI_GROUPS else -1))
        used.add(name)
        if draw(st.integers(0, 4)) == 0:
            lines.append(draw(st.sampled_from(("# a comment", "; another", "", "   "))))
    # Every group a section or a child names gets declared, so that neither tool refuses it.
    named = {line for line in lines if line in INI_GROUPS}
    lines += [f"[{name}]" for name in sorted(named | used) if name in INI_GROUPS]
    return "\n".join(lines) + "\n"


@INI_FUZZ
@given(text=ini_inventory(), yaml_too=st.booleans())
def test_random_ini_inventories_list_as_in_ansible(text: str, yaml_too: bool) -> None:
    with tempfile.TemporaryDirectory(prefix="fuzz-ini-") as tmp:
        folder = Path(tmp) / "inv"
        folder.mkdir()
        (folder / "10-hosts").write_text(text)
        if yaml_too:
            (folder / "20-more.yml").write_text(
                "db:\n  hosts:\n    h1:\n      k2: from-yaml\n  vars:\n    color: 7\n")
            (folder / "group_vars").mkdir()
            (folder / "group_vars" / "web.yml").write_text("k1: from-group-vars\n")
        theirs, ours = both_lists(folder)
    for host, their_vars in theirs["_meta"]["hostvars"].items():
        # bootstrap_roles is the union of the lists of every layer (README), Ansible's the last.
        their_roles = their_vars.pop("bootstrap_roles", None)
        our_roles = ours["_meta"]["hostvars"][host].pop("bootstrap_roles", None)
        assert set(their_roles or ()) <= set(our_roles or ()), host
    assert ours == theirs


def test_more_entries_than_the_ini_limit_fail_before_parsing(tmp_path):
    """A million lines of one host are cheap to write and costly to parse: counted first (a
    section header is an entry too)."""
    (tmp_path / "hosts").write_text("# hosts\n[web]\n" + "h1 a=1\n" * 1_000_000 + "h1 a=1\n")
    result = run_cli("inventory", "hosts", "--list", cwd=tmp_path)
    error = one_error(result)
    assert error == ("error: hosts:1000002: more than 1,000,000 entries in one INI file (the "
                     "limit); split it into several files")
    # Blank lines and comments are no entries.
    (tmp_path / "hosts").write_text("# note\n\n; note\n" * 400_000 + "[web]\nh1 a=1\n")
    listed = run_cli("inventory", "hosts", "--list", cwd=tmp_path)
    assert listed.rc == 0 and json.loads(listed.out)["web"]["hosts"] == ["h1"]


@settings(max_examples=3000, derandomize=True, deadline=None, database=None)
@given(line=st.text(alphabet=" \t'\"\\#a=;é", max_size=24))
def test_host_lines_split_into_the_words_shlex_gives(line: str) -> None:
    """The plugin splits a host line with shlex.split(line, comments=True); bootstrap's faster
    splitter gives the same words, and fails where shlex fails."""
    try:
        expected: list[str] | str = shlex.split(line, comments=True)
    except ValueError as exc:
        expected = str(exc)
    try:
        got: list[str] | str = split_words(line)
    except ValueError as exc:
        got = str(exc)
    assert got == expected
