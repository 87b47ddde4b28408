"""``bootstrap inventory``: one host's vars, where a value came from, and the warnings a user sees.

Every inventory here is written in the test, so the line numbers asserted are the lines you can
count in the text above them (the first line of each file is line 1).
"""

from __future__ import annotations

import json

import pytest
from support.cli import run_cli

HOSTS = """\
all:
  vars:
    ntp: pool.example.org
    bootstrap_roles: [base]
  children:
    web:
      vars:
        ntp: 10.0.0.1
        bootstrap_roles: [nginx, base]
      hosts:
        web1:
          ntp: 10.0.0.9
          db_password: {env: DB_PASSWORD}
          tls_key: {file: secrets/web1.key}
          bootstrap_roles: [certs, nginx]
    eu:
      vars:
        bootstrap_roles: [eu-mirror]
      hosts:
        web1:
"""


@pytest.fixture
def inventory(tree):
    tree({
        "hosts.yml": HOSTS,
        "group_vars/web.yml": "ntp: 10.1.1.1\nbootstrap_roles: [monitoring]\n",
        "host_vars/web1.yml": "ntp: 192.0.2.1\n",
        "secrets/web1.key": "KEY-MATERIAL-42\n",
    })
    return "inv"


def test_host_shows_resolved_vars_with_secrets_as_placeholders(tmp_path, inventory):
    result = run_cli("inventory", inventory, "--host", "web1", cwd=tmp_path,
                     env={"DB_PASSWORD": "hunter2-db"})
    assert result.rc == 0, result.err
    assert json.loads(result.out) == {
        "ntp": "192.0.2.1",
        "db_password": "<secret:env:DB_PASSWORD>",
        "tls_key": "<secret:file:secrets/web1.key>",
        "bootstrap_roles": ["base", "eu-mirror", "nginx", "monitoring", "certs"],
    }
    for text in (result.out, result.err):
        assert "hunter2-db" not in text and "KEY-MATERIAL-42" not in text


def test_host_never_resolves_a_secret(tmp_path, inventory):
    # Neither the variable nor the file exists: --host has nothing to read, so nothing fails.
    (tmp_path / "inv/secrets/web1.key").unlink()
    result = run_cli("inventory", inventory, "--host", "web1", cwd=tmp_path,
                     env={"DB_PASSWORD": ""})
    assert result.rc == 0, result.err
    assert json.loads(result.out)["tls_key"] == "<secret:file:secrets/web1.key>"


def test_roles_are_the_union_of_every_layer_in_precedence_order(tmp_path, inventory):
    """bootstrap_roles, the one deliberate difference from Ansible (which keeps the last list).

    Lowest first: all [base], then eu [eu-mirror] and web [nginx, base] (same depth, by name),
    group_vars/web.yml [monitoring], the host's own [certs, nginx]; each role once.
    """
    result = run_cli("inventory", inventory, "--explain", "web1", "bootstrap_roles", cwd=tmp_path)
    assert result.rc == 0, result.err
    assert result.out.splitlines() == [
        'web1: bootstrap_roles = ["base", "eu-mirror", "nginx", "monitoring", "certs"]',
        "  from inv/hosts.yml:15 (host web1 (inline))",
        '  overrides ["monitoring"] from inv/group_vars/web.yml:2 (group_vars/web)',
        '  overrides ["nginx", "base"] from inv/hosts.yml:9 (group web (inline))',
        '  overrides ["eu-mirror"] from inv/hosts.yml:18 (group eu (inline))',
        '  overrides ["base"] from inv/hosts.yml:4 (group all (inline))',
        "  (bootstrap_roles is the union of every layer's list, lowest first)",
    ]


def test_explain_names_the_winning_line_and_every_value_it_overrode(tmp_path, inventory):
    result = run_cli("inventory", inventory, "--explain", "web1", "ntp", cwd=tmp_path)
    assert result.rc == 0, result.err
    assert result.out.splitlines() == [
        'web1: ntp = "192.0.2.1"',
        "  from inv/host_vars/web1.yml:1 (host_vars/web1)",
        '  overrides "10.0.0.9" from inv/hosts.yml:12 (host web1 (inline))',
        '  overrides "10.1.1.1" from inv/group_vars/web.yml:1 (group_vars/web)',
        '  overrides "10.0.0.1" from inv/hosts.yml:8 (group web (inline))',
        '  overrides "pool.example.org" from inv/hosts.yml:3 (group all (inline))',
    ]
    assert result.err == ""


def test_explain_shows_a_secret_as_its_placeholder(tmp_path, inventory):
    result = run_cli("inventory", inventory, "--explain", "web1", "db_password", cwd=tmp_path,
                     env={"DB_PASSWORD": "hunter2-db"})
    assert result.rc == 0, result.err
    assert result.out.splitlines() == [
        'web1: db_password = "<secret:env:DB_PASSWORD>"',
        "  from inv/hosts.yml:13 (host web1 (inline))",
    ]
    assert "hunter2-db" not in result.out + result.err


def test_explain_of_a_key_nobody_sets(tmp_path, inventory):
    result = run_cli("inventory", inventory, "--explain", "web1", "nope", cwd=tmp_path)
    assert (result.rc, result.out) == (0, "web1: nope is not set\n")


def test_unknown_host_suggests_a_known_one(tmp_path, inventory):
    result = run_cli("inventory", inventory, "--host", "web11", cwd=tmp_path)
    assert result.rc == 1
    assert result.err == "error: inv: no host 'web11' in the inventory (did you mean 'web1'?)\n"


TIE = """\
all:
  children:
    blue:
      vars:
        color: blue
        shared: same
      hosts:
        h1:
        h2:
    amber:
      vars:
        color: amber
        shared: same
      hosts:
        h1:
        h2:
    deep_parent:
      children:
        deep:
          vars:
            color: deep
          hosts:
            h2:
"""


def test_a_tie_between_groups_is_a_warning_naming_both_groups_and_files(tmp_path, tree):
    tree({"hosts.yml": TIE})
    result = run_cli("inventory", "inv", "--explain", "h1", "color", cwd=tmp_path)
    assert result.rc == 0, result.err
    assert result.out.splitlines() == [
        'h1: color = "blue"',
        "  from inv/hosts.yml:5 (group blue (inline))",
        '  overrides "amber" from inv/hosts.yml:12 (group amber (inline))',
    ]
    assert result.err == (
        "warning: host h1: key color: groups 'amber' (inv/hosts.yml:12) and 'blue' "
        "(inv/hosts.yml:5) have the same depth and priority and set different values; "
        "'blue' wins by name\n"
    )


def test_a_tie_warns_on_render_too_but_not_where_it_decides_nothing(tmp_path, tree):
    # h2 is also in 'deep' (depth 2), which sets color itself: the tie decides nothing for h2.
    # 'shared' has the same value in both groups: no conflict either.
    tree({"hosts.yml": TIE})
    result = run_cli("render", "inv", "-o", "build", cwd=tmp_path)
    assert result.rc == 0, result.err
    warnings = [line for line in result.err.splitlines() if line.startswith("warning:")]
    assert warnings == [
        "warning: host h1: key color: groups 'amber' (inv/hosts.yml:12) and 'blue' "
        "(inv/hosts.yml:5) have the same depth and priority and set different values; "
        "'blue' wins by name"
    ]


def test_directory_style_group_vars_have_file_and_line(tmp_path, tree):
    tree({
        "hosts.yml": "web:\n  hosts:\n    web1:\n",
        "group_vars/web/00-base.yml": "# defaults for every web server\nhttp_port: 80\nworkers: 2\n",
        "group_vars/web/10-tuning.yml": "workers: 8\n\nhttp_port: 8080\n",
        "group_vars/web/.10-tuning.yml.swp": "http_port: 1\n",
    })
    result = run_cli("inventory", "inv", "--explain", "web1", "http_port", cwd=tmp_path)
    assert result.rc == 0, result.err
    assert result.out.splitlines() == [
        "web1: http_port = 8080",
        "  from inv/group_vars/web/10-tuning.yml:3 (group_vars/web)",
        "  overrides 80 from inv/group_vars/web/00-base.yml:2 (group_vars/web)",
    ]


def test_anchors_and_merge_keys_point_at_the_lines_that_hold_the_values(tmp_path, tree):
    tree({"hosts.yml": """\
        all:
          vars:
            defaults: &defaults
              timeout: 30
              retries: 3
          hosts:
            h1:
              <<: *defaults
              retries: 5
              copy: *defaults
        """})
    shown = run_cli("inventory", "inv", "--host", "h1", cwd=tmp_path)
    assert shown.rc == 0, shown.err
    assert json.loads(shown.out) == {
        "defaults": {"timeout": 30, "retries": 3},
        "timeout": 30,
        "retries": 5,
        "copy": {"timeout": 30, "retries": 3},
    }
    timeout = run_cli("inventory", "inv", "--explain", "h1", "timeout", cwd=tmp_path)
    assert timeout.out.splitlines()[1] == "  from inv/hosts.yml:4 (host h1 (inline))"
    retries = run_cli("inventory", "inv", "--explain", "h1", "retries", cwd=tmp_path)
    assert retries.out.splitlines()[1] == "  from inv/hosts.yml:9 (host h1 (inline))"
    copy = run_cli("inventory", "inv", "--explain", "h1", "copy", cwd=tmp_path)
    assert copy.out.splitlines()[1] == "  from inv/hosts.yml:10 (host h1 (inline))"


def test_list_is_the_default_and_prints_ansibles_shape(tmp_path, inventory):
    result = run_cli("inventory", inventory, cwd=tmp_path)
    assert result.rc == 0, result.err
    listed = json.loads(result.out)
    assert listed["all"] == {"children": ["ungrouped", "web", "eu"]}
    assert listed["web"] == {"hosts": ["web1"]}
    assert listed["_meta"]["hostvars"]["web1"]["db_password"] == {"env": "DB_PASSWORD"}
