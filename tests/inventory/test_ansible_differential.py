"""Random inventories, read by ansible-core and by bootstrap: ``--list`` must print the same.

Each example is one inventory folder drawn by hypothesis: several inventory files (YAML and
JSON), groups nested a few levels deep with ``ansible_group_priority``, hosts listed in several
groups and as ranges with ports, the same keys set by many groups, hosts and files,
``group_vars/`` and ``host_vars/`` as files and as folders of files (some of which Ansible
skips: hidden, backup, a name ending with a dot, an unknown extension), vars files of groups and
hosts that do not exist, YAML 1.1 scalars and keys that are not strings. ``ansible-inventory -i
FOLDER --list`` and ``bootstrap inventory FOLDER --list`` read the folder; their JSON must be equal.

The generator leaves out what bootstrap refuses on purpose, which its own tests cover
(test_inventory_errors.py): a name that is both a host and a group, a range that expands to no
host, cycles, unreadable or malformed files. It also leaves out what ansible-inventory cannot
print (a date as a key, or a ``!!binary`` value, makes it crash; a ``!!set`` it prints in a new
order each run, bootstrap sorted), and one variable name spelled both as a string and as another
type (``1:`` and ``"1":``), which bootstrap reads as one variable
(test_a_name_spelled_two_ways_is_one_variable).
``bootstrap_roles``, the one deliberate difference in values, is checked as the union it is.

CI runs a fixed set of examples; ``BOOTSTRAP_FUZZ_EXAMPLES=500`` runs that many fresh ones.
"""

from __future__ import annotations

import json
import math
import os
import re
import tempfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from support import ansible
from support.cli import run_cli, write_tree

# -- settings: a fixed, bounded run in CI; many fresh examples on demand -------------------------

ON_DEMAND = int(os.environ.get("BOOTSTRAP_FUZZ_EXAMPLES", "0"))
FUZZ = settings(
    max_examples=ON_DEMAND or 12,  # each costs an ansible-inventory run: 1-4 s on 2 busy cores
    derandomize=not ON_DEMAND,  # CI: the same inventories every run
    deadline=None,
    database=None,  # nothing written into the checkout
    print_blob=True,
    # A failure in CI prints its whole inventory at once; shrinking it to the smallest one that
    # still fails takes minutes of ansible-inventory runs, worth it only on demand.
    phases=list(Phase) if ON_DEMAND else [Phase.explicit, Phase.generate],
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)

# -- what the generator draws from --------------------------------------------------------------

# Groups may only have children later in this order, so no cycle is ever drawn.
GROUPS = ("web", "db", "app_1", "Edge", "lb-x", "g.v", "grüppe", "zz")
MISSING_GROUP = "nosuch"  # a group_vars file with no group
# Host patterns: plain names, addresses, ports, ranges; they overlap, so hosts recur.
HOSTS = ("h1", "h2", "h3", "srv-a", "db.example.com", "10.0.0.1", "2001:db8::1", "h1:2222",
         "h2:2200", "[2001:db8::2]:2201", "h[1:3]", "h[2:4:2]", "n[01:03]", "x-[a:c]",
         "n[02:03]:2022", "Srv-B", "10.0.0.[1:2]", "h[8:10]", "hôte", "hôte:2022",
         "x-[a:e:2]", "x_:22")  # x_ is no valid address: "x_:22" is the name
HOST_NAMES = ("h1", "h2", "h3", "h4", "h9", "srv-a", "Srv-B", "db.example.com", "10.0.0.1",
              "10.0.0.2", "2001:db8::1", "2001:db8::2", "n01", "n02", "n03", "x-a", "x-c", "x-e",
              "hôte", "x_:22")
MISSING_HOST = "ghost"  # a host_vars file with no host
# Variable names. The YAML ones that are no strings are named by their JSON text ("true",
# "3", "16", "1.5", "null"); none of them is also spelled as a string here.
ROLES = "bootstrap_roles"  # a union in bootstrap, Ansible's usual winner in Ansible
STRING_KEYS = ("k1", "k2", "k3", "color", "ansible_port", "ansible_host", "group_names", ROLES,
               "ansible_group_priority")
SPECIAL_KEYS = ("ansible_group_priority", ROLES)
YAML_KEYS = (*STRING_KEYS, '"k1"', "'k2'", "ключ", "yes", "On", "off", "3", "0x10", "1.5", "~")
JSON_KEYS = tuple(json.dumps(k) for k in STRING_KEYS)
YAML_SCALARS = (
    "yes", "no", "on", "off", "Yes", "NO", "y", "n", "true", "False", "TRUE",
    "0755", "0o755", "0x1F", "0b101", "1_000", "-0", "+7", "09", "190:20:30", "190:20:30.15",
    "2024-02-29", "2024-02-29 10:00:00", "2001-12-14t21:59:43.10-05:00",
    "null", "Null", "~", "1e3", "1.0e+3", "1.5", ".5", "3.", ".inf", "-.Inf", ".NaN",
    '"quoted"', "'single'", "plain", "a b", '"{{ tpl }}"', '""', "'0755'", '"yes"',
    "!!str 12", "!!float 1", '!!int "7"', "2024-02-29T10:00:00Z", "2024-2-9", "1.0e3", "-0x1F",
    "1_", "-1:30", "12345678901234567890", "0.", "+.5", "NULL", '"~"', "Y", "OFF", "08", "00",
    "0X1F", "1.5E+3", '"é ключ"', '"\\t\\u00e9\\U0001F600"', "'it''s'",
)
JSON_SCALARS = ("true", "false", "null", "1e3", "1E+2", "-0", "0.5", "12", '"0755"', '"yes"',
                '"x"', '""', "1.0", "Infinity", "-Infinity", "NaN", "1e400", "-0.0",
                "10000000000000000000000", '"\\ud83d\\ude00 \\u00e9"', '"é"')
PRIORITIES = {"yaml": ("1", "2", "3", "10", "0755", "'5'", "-1", "yes"),
              "json": ("1", "2", "3", "10", '"5"', "-1", "true")}
INVENTORY_FILES = ("10-base.yml", "20-more.yaml", "30-extra.json")
IGNORED_FILES = (".hidden.yml", "old.yml~", "notes.txt")  # both tools skip these
# Files of a group_vars/NAME/ folder; Ansible reads them sorted and skips some of them.
FOLDER_FILES = ("10.yml", "20", "30.json", "B.yml", "a.yaml", "c.", "v1.2", "n.txt", "x.yml~",
                ".hidden.yml", "U.YML", "sub/d.yml", "sub./e.yml", "conf.d/f.yml")
# How a vars file for NAME is spelled: "" is NAME itself; each may be a file or a folder.
VARS_SUFFIXES = ("", ".yml", ".yaml", ".json", ".")

Pairs = list[tuple[str, Any]]  # a mapping as written: keys in order, repeats allowed


class Flow(str):
    """A value written on its key's line: a scalar or a flow collection, already in the syntax."""


# -- strategies ---------------------------------------------------------------------------------


def flow_value(fmt: str) -> st.SearchStrategy[Flow]:
    scalars = st.sampled_from(YAML_SCALARS if fmt == "yaml" else JSON_SCALARS)
    keys = st.sampled_from(YAML_KEYS if fmt == "yaml" else JSON_KEYS)
    seq = st.lists(scalars, max_size=3).map(lambda xs: f"[{', '.join(xs)}]")
    mapping = st.lists(st.tuples(keys, scalars), max_size=3).map(
        lambda kv: "{" + ", ".join(f"{k}: {v}" for k, v in kv) + "}")
    return st.one_of(scalars, scalars, seq, mapping).map(Flow)


def var_value(fmt: str) -> st.SearchStrategy[Any]:
    nested = st.lists(st.tuples(st.sampled_from(YAML_KEYS if fmt == "yaml" else JSON_KEYS),
                                flow_value(fmt)), min_size=1, max_size=3)
    empty = st.just(None) if fmt == "yaml" else st.just(Flow("null"))
    return st.one_of(flow_value(fmt), flow_value(fmt), nested, empty)


@st.composite
def var_pairs(draw: st.DrawFn, fmt: str, group: bool = False) -> Pairs:
    """Variables, often the same few keys; in a group's own vars a priority that counts."""
    keys = YAML_KEYS if fmt == "yaml" else JSON_KEYS
    out: Pairs = []
    for key in draw(st.lists(st.sampled_from(keys), max_size=4, unique=fmt == "json")):
        if group and key.strip("\"'") == "ansible_group_priority":
            value: Any = Flow(draw(st.sampled_from(PRIORITIES[fmt])))
        elif key.strip("\"'") == ROLES:
            roles = draw(st.lists(st.sampled_from(("base", "web", "db")), max_size=3))
            value = Flow(json.dumps(roles))
        else:
            value = draw(var_value(fmt))
        out.append((key, value))
    if fmt == "yaml" and draw(st.integers(0, 5)) == 0:  # a YAML merge key, before or after
        other = draw(st.sampled_from(keys).filter(lambda k: k not in SPECIAL_KEYS))
        merged = ("<<", Flow(f"{{k1: merged, {other}: merged}}"))
        out.insert(draw(st.integers(0, len(out))), merged)
    flows = [i for i, (_, value) in enumerate(out) if isinstance(value, Flow)]
    if fmt == "yaml" and flows and draw(st.integers(0, 4)) == 0:
        # An anchored value and an alias of it further down ("&@"/"*@" are numbered by emit).
        first = draw(st.sampled_from(flows))
        out[first] = (out[first][0], Flow(f"&@ {out[first][1]}"))
        other = draw(st.sampled_from(keys).filter(lambda k: k not in SPECIAL_KEYS))
        out.insert(draw(st.integers(first + 1, len(out))), (other, Flow("*@")))
    return out


def quoted(name: str, fmt: str) -> str:
    return json.dumps(name) if fmt == "json" or ":" in name or "[" in name else name


@st.composite
def hosts_section(draw: st.DrawFn, fmt: str) -> Any:
    patterns = draw(st.lists(st.sampled_from(HOSTS), min_size=1, max_size=4,
                             unique=fmt == "json"))
    if len(patterns) == 1 and draw(st.booleans()):
        return Flow(quoted(patterns[0], fmt))  # "hosts: h1": one host with no vars
    return [(quoted(p, fmt), draw(st.none() | var_pairs(fmt))) for p in patterns]


@st.composite
def group_body(draw: st.DrawFn, fmt: str, index: int, depth: int) -> Pairs | None:
    body: Pairs = []
    if draw(st.booleans()):
        body.append((quoted("hosts", fmt), draw(hosts_section(fmt))))
    if draw(st.booleans()):
        # "vars: k1" is k1 with no value, as "hosts: h1" is h1 with no vars.
        plain = [k for k in STRING_KEYS if k not in SPECIAL_KEYS]
        section = st.sampled_from(plain).map(lambda k: Flow(quoted(k, fmt)))
        body.append((quoted("vars", fmt), draw(var_pairs(fmt, group=True) | section)))
    later = GROUPS[index + 1:]
    if depth < 3 and later and draw(st.booleans()):
        names = draw(st.lists(st.sampled_from(later), min_size=1, max_size=3, unique=True))
        if len(names) == 1 and draw(st.integers(0, 3)) == 0:
            children: Any = Flow(quoted(names[0], fmt))
        else:
            children = [(quoted(n, fmt), draw(group_body(fmt, GROUPS.index(n), depth + 1)))
                        for n in names]
        body.append((quoted("children", fmt), children))
    if draw(st.integers(0, 7)) == 0:  # a key that is none of the three: skipped with a warning
        body.insert(draw(st.integers(0, len(body))), (quoted("host", fmt), draw(var_value(fmt))))
    if not body and fmt == "json":
        return []
    return body or None


@st.composite
def inventory_file(draw: st.DrawFn, fmt: str) -> Pairs:
    top: Pairs = []
    if draw(st.booleans()):
        all_body: Pairs = []
        if draw(st.booleans()):
            all_body.append((quoted("vars", fmt), draw(var_pairs(fmt, group=True))))
        if draw(st.booleans()):
            all_body.append((quoted("hosts", fmt), draw(hosts_section(fmt))))
        children = draw(st.lists(st.sampled_from(("ungrouped", *GROUPS)), max_size=3, unique=True))
        if children:
            all_body.append((quoted("children", fmt), [
                (quoted(n, fmt), draw(group_body(fmt, GROUPS.index(n) if n in GROUPS else -1, 1)))
                for n in children]))
        top.append((quoted("all", fmt), all_body or None))
    # At least one group: Ansible refuses an inventory file with nothing in it.
    names = draw(st.lists(st.sampled_from(("ungrouped", *GROUPS)), min_size=0 if top else 1,
                          max_size=3, unique=True))
    top += [(quoted(n, fmt), draw(group_body(fmt, GROUPS.index(n) if n in GROUPS else -1, 1)))
            for n in names]
    if draw(st.integers(0, 7)) == 0:  # a group that is no mapping: skipped with a warning
        bad = draw(st.sampled_from(('["a", "b"]', '"text"', "3")))
        top.append((quoted(draw(st.sampled_from(GROUPS)), fmt), Flow(bad)))
    return top


@st.composite
def vars_file(draw: st.DrawFn) -> str:
    """A vars file's text: a mapping in YAML or JSON (whatever its name), or an empty file."""
    kind = draw(st.sampled_from(("yaml", "yaml", "json", "empty")))
    if kind == "empty":
        return draw(st.sampled_from(("", "---\n", "~\n", "{}\n")))
    return emit(draw(var_pairs(kind)), kind)


@st.composite
def vars_tree(draw: st.DrawFn, kind: str, names: tuple[str, ...]) -> dict[str, str]:
    """group_vars/ or host_vars/: for some names, one or more spellings of their vars file."""
    files: dict[str, str] = {}
    for name in draw(st.lists(st.sampled_from(names), max_size=5, unique=True)):
        suffixes = draw(st.lists(st.sampled_from(VARS_SUFFIXES), min_size=1, max_size=3,
                                 unique=True))
        for suffix in suffixes:
            # A folder, mostly as NAME/; but NAME.yml/ is read as a folder too.
            folder = draw(st.integers(0, 2)) == 0 if suffix else draw(st.booleans())
            if not folder:
                files[f"{kind}/{name}{suffix}"] = draw(vars_file())
                continue
            for inner in draw(st.lists(st.sampled_from(FOLDER_FILES), min_size=1, max_size=4,
                                       unique=True)):
                files[f"{kind}/{name}{suffix}/{inner}"] = draw(vars_file())
    return files


@st.composite
def inventories(draw: st.DrawFn) -> dict[str, str]:
    """An inventory folder: {relative path: text}."""
    files: dict[str, str] = {}
    for name in draw(st.lists(st.sampled_from(INVENTORY_FILES), min_size=1, max_size=3,
                              unique=True)):
        fmt = "json" if name.endswith(".json") else "yaml"
        files[name] = emit(draw(inventory_file(fmt)), fmt)
    for name in draw(st.lists(st.sampled_from(IGNORED_FILES), max_size=1)):
        files[name] = emit(draw(inventory_file("yaml")), "yaml")
    files |= draw(vars_tree("group_vars", ("all", "ungrouped", *GROUPS, MISSING_GROUP)))
    files |= draw(vars_tree("host_vars", (*HOST_NAMES, MISSING_HOST)))
    return files


# -- writing YAML and JSON as people do ----------------------------------------------------------


def emit(pairs: Pairs, fmt: str) -> str:
    if fmt == "json":
        return _json(pairs) + "\n"
    text = "".join(f"{line}\n" for line in _yaml(pairs, 0)) or "{}\n"
    anchors = 0

    def name(match: re.Match[str]) -> str:  # each anchor its own name, each alias the last one
        nonlocal anchors
        anchors += match[0] == "&@"
        return f"{match[0][0]}a{anchors}"

    return re.sub(r"[&*]@", name, text)


def _yaml(pairs: Pairs, indent: int) -> list[str]:
    pad = " " * indent
    lines: list[str] = []
    for key, value in pairs:
        if value is None:
            lines.append(f"{pad}{key}:")
        elif isinstance(value, Flow):
            lines.append(f"{pad}{key}: {value}")
        elif not value:
            lines.append(f"{pad}{key}: {{}}")
        else:
            lines.append(f"{pad}{key}:")
            lines += _yaml(value, indent + 2)
    return lines


def _json(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, Flow):
        return str(value)
    return "{" + ", ".join(f"{key}: {_json(v)}" for key, v in value) + "}"


# -- running both tools -------------------------------------------------------------------------


def both_lists(folder: Path) -> tuple[dict[str, Any], dict[str, Any]]:
    """(ansible-inventory --list, bootstrap inventory --list) of one folder, run side by side."""
    with ThreadPoolExecutor(max_workers=2) as pool:
        theirs = pool.submit(ansible.inventory_list, folder)
        result = pool.submit(run_cli, "inventory", folder, "--list").result()
        try:
            their_list = theirs.result()
        except AssertionError as exc:  # ansible-inventory refused the inventory: say if both did
            raise AssertionError(f"bootstrap: {result.err or 'read it'}\n{exc}") from None
    assert result.rc == 0 and "Traceback" not in result.err, result.err
    return their_list, json.loads(result.out)


def comparable(value: Any) -> Any:
    """NaN as a string, so that equal outputs compare equal."""
    if isinstance(value, float) and math.isnan(value):
        return "NaN"
    if isinstance(value, dict):
        return {k: comparable(v) for k, v in value.items()}
    if isinstance(value, list):
        return [comparable(v) for v in value]
    return value


def assert_same_list(theirs: dict[str, Any], ours: dict[str, Any]) -> None:
    """Equal --list output, but for the documented ``bootstrap_roles`` union."""
    theirs = comparable(theirs)
    ours = comparable(ours)
    for host, their_vars in theirs["_meta"]["hostvars"].items():
        our_vars = ours["_meta"]["hostvars"].get(host, {})
        if isinstance(their_vars.get(ROLES), list):
            # The documented difference: every layer's roles, each once, where Ansible keeps
            # the list of the layer that wins.
            their_roles, our_roles = their_vars.pop(ROLES), our_vars.pop(ROLES, None)
            assert isinstance(our_roles, list) and set(their_roles) <= set(our_roles), host
            assert len(our_roles) == len(set(our_roles)), host
    assert ours["_meta"]["hostvars"] == theirs["_meta"]["hostvars"]
    assert ours == theirs


@FUZZ
@given(files=inventories())
def test_random_inventories_list_as_in_ansible(files: dict[str, str]) -> None:
    with tempfile.TemporaryDirectory(prefix="fuzz-inventory-") as tmp:
        folder = Path(tmp) / "inv"
        for rel, text in files.items():
            path = folder / rel
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text)
        theirs, ours = both_lists(folder)
    assert_same_list(theirs, ours)


def test_divergences_found_earlier_list_as_in_ansible(tmp_path: Path) -> None:
    """Keys that are no strings, vars files whose name ends with a dot, vars files of no group or
    host, and a host listed in 'ungrouped' and in a group below it."""
    write_tree(tmp_path / "inv", {
        "hosts.yml": """\
            all:
              vars:
                yes: all-true
                3: all-three
                1.5: all-float
                ~: all-null
              children:
                ungrouped:
                  hosts:
                    h1:
                  children:
                    web:
                web:
                  hosts:
                    h1:
                    h2:
                      On: host-true
                      0x10: sixteen
                      nested: {off: 1, 2: two}
            """,
        "group_vars/web/10.yml": "from_folder: 10\n",
        "group_vars/web/20.": "ends_with_dot: read\n",
        "group_vars/web/sub./30.yml": "in_dot_folder: read\n",
        "group_vars/web/sub/40.yml": "in_sub_folder: 40\n",
        "group_vars/web.": "dot_spelling: read\n",
        "group_vars/ungrouped.yml": "ungrouped_var: true\n",
        "group_vars/ghost.yml": "- not a mapping, and no group reads it\n",
        "group_vars/ghost2/a.yml": "ghost: [\n",
        "host_vars/h2.": "dot_spelling: read\n",
        "host_vars/nobody.yml": "- not a mapping, and no host reads it\n",
    })
    theirs, ours = both_lists(tmp_path / "inv")
    h1, h2 = theirs["_meta"]["hostvars"]["h1"], theirs["_meta"]["hostvars"]["h2"]
    assert h1 == {"true": "all-true", "3": "all-three", "1.5": "all-float", "null": "all-null",
                  "from_folder": 10, "in_sub_folder": 40}
    # h1 left 'ungrouped' for web; h2 was never in it, and has it as web's parent.
    assert h2 == {**h1, "true": "host-true", "16": "sixteen", "nested": {"false": 1, "2": "two"},
                  "ungrouped_var": True}
    assert ours == theirs


def test_a_name_spelled_two_ways_is_one_variable(tmp_path: Path) -> None:
    """A variable name is its JSON text: ``1:`` and ``"1":`` are one variable in bootstrap, and
    precedence decides its value; ``yes:`` ("true") and ``1:`` ("1") are two.

    Ansible keys its variables by the YAML value: 1 and "1" are two variables, which --list
    prints under one name (the last printed wins when read back); Python's ``True == 1`` makes
    ``yes:`` and ``1:`` one variable, named as it was first set.
    """
    write_tree(tmp_path / "inv", {"group_vars/db.yml": "yes: db\n", "hosts.yml": """\
        all:
          vars:
            1: all
          children:
            web:
              vars:
                "1": web
              hosts:
                h1:
                  1: host
            db:
              hosts:
                h2:
                  1: host
        """})
    theirs, ours = both_lists(tmp_path / "inv")
    assert ours["_meta"]["hostvars"]["h1"] == {"1": "host"}
    assert theirs["_meta"]["hostvars"]["h1"] == {"1": "web"}
    assert ours["_meta"]["hostvars"]["h2"] == {"1": "host", "true": "db"}
    assert theirs["_meta"]["hostvars"]["h2"] == {"1": "host"}


def test_a_lone_surrogate_escape_in_json_is_refused_as_in_ansible(tmp_path: Path) -> None:
    """JSON can escape half of a UTF-16 pair; Ansible refuses the file, so does bootstrap, with
    the line. A whole pair is one character and reads in both."""
    inv = write_tree(tmp_path / "inv", {
        "hosts.yml": "all:\n  hosts:\n    h1:\n",
        "host_vars/h1.json": '{\n  "pair": "\\ud83d\\ude00",\n  "lone": "x\\ud800"\n}\n',
    })
    proc = ansible.run("ansible-inventory", "-i", inv.resolve(), "--list")
    assert proc.returncode != 0
    result = run_cli("inventory", "inv", "--list", cwd=tmp_path)
    assert result.rc == 1 and result.out == ""
    assert result.err == ("error: inv/host_vars/h1.json:3: a lone UTF-16 surrogate (an escape such "
                          "as \\ud800 without its pair) has no UTF-8 form; write the character "
                          "itself\n")
    (inv / "host_vars/h1.json").write_text('{"pair": "\\ud83d\\ude00"}\n')
    theirs, ours = both_lists(inv)
    assert ours == theirs
    assert ours["_meta"]["hostvars"]["h1"] == {"pair": "\U0001f600"}
