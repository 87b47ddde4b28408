"""A broken inventory: exit status 1 and one ``error:`` line that says where, never a traceback.

Each test breaks an inventory in one way a user could, runs the command they would run, and
reads stderr as they would. The lines named are those you can count in the text of the test.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys

from support import waits
from support.cli import Result, one_error, run_cli


def test_malformed_yaml_names_line_and_column(tmp_path, tree):
    tree({"hosts.yml": """\
        all:
          hosts:
            web1:
              ntp_servers: [0.pool.ntp.org, 1.pool.ntp.org
            web2:
        """})
    error = one_error(run_cli("inventory", "inv", "--list", cwd=tmp_path))
    assert error == ("error: inv/hosts.yml:5:9: malformed YAML: did not find expected ',' or ']' "
                     "(while parsing a flow sequence started at line 4, column 20)")


def test_malformed_group_vars_fails_render_and_keeps_the_previous_build(tmp_path, tree):
    inv = tree({"hosts.yml": "web:\n  hosts:\n    web1:\n", "group_vars/web.yml": "port: 80\n"})
    assert run_cli("render", "inv", "-o", "build", cwd=tmp_path).rc == 0
    before = {p: p.read_bytes() for p in (tmp_path / "build").rglob("*") if p.is_file()}
    assert before
    (inv / "group_vars/web.yml").write_text("port: 80\n  mtu: 9000\n")
    error = one_error(run_cli("render", "inv", "-o", "build", cwd=tmp_path))
    assert error.startswith("error: inv/group_vars/web.yml:2:")
    after = {p: p.read_bytes() for p in (tmp_path / "build").rglob("*") if p.is_file()}
    assert after == before


def test_a_name_used_for_a_host_and_a_group(tmp_path, tree):
    tree({"hosts.yml": """\
        all:
          children:
            web:
              hosts:
                db:
            db:
              hosts:
                db1:
        """})
    error = one_error(run_cli("inventory", "inv", "--list", cwd=tmp_path))
    assert error == ("error: inv/hosts.yml:5: 'db' is both a host and a group (the group is at "
                     "inv/hosts.yml:6); give them different names")


def test_a_cycle_in_children_is_named_where_it_closes(tmp_path, tree):
    tree({"hosts.yml": """\
        all:
          children:
            site:
              children:
                rack:
                  children:
                    row:
                      children:
                        site:
        """})
    error = one_error(run_cli("inventory", "inv", "--list", cwd=tmp_path))
    assert error == ("error: inv/hosts.yml:9: group 'site' under 'row' makes a cycle in "
                     "'children': row > site > rack > row")


def test_an_unreadable_group_vars_file(tmp_path, tree):
    """chmod 000 stops every user but root; the command runs without root's power to override
    file permissions (CAP_DAC_OVERRIDE, CAP_DAC_READ_SEARCH), as an operator's account would."""
    setpriv = shutil.which("setpriv")
    assert setpriv, "setpriv (util-linux) is needed to drop root's file-permission override"
    inv = tree({"hosts.yml": "web:\n  hosts:\n    web1:\n", "group_vars/web.yml": "port: 80\n"})
    (inv / "group_vars/web.yml").chmod(0)
    proc = subprocess.run(
        [setpriv, "--inh-caps=-all", "--bounding-set=-dac_override,-dac_read_search", "--",
         sys.executable, "-m", "bootstrap", "inventory", "inv", "--list"],
        cwd=tmp_path, capture_output=True, text=True, timeout=waits.allowance(120), env=os.environ.copy(),
    )
    error = one_error(Result(proc.returncode, proc.stdout, proc.stderr))
    assert error == "error: inv/group_vars/web.yml: cannot read file: Permission denied"


def test_a_host_vars_file_that_is_not_a_mapping(tmp_path, tree):
    tree({"hosts.yml": "web:\n  hosts:\n    web1:\n",
          "host_vars/web1.yml": "# a list where a mapping belongs\n- ntp\n- dns\n"})
    error = one_error(run_cli("inventory", "inv", "--host", "web1", cwd=tmp_path))
    assert error == "error: inv/host_vars/web1.yml:2: host web1: a vars file must be a mapping, found a list"


def test_a_group_vars_file_that_is_vault_encrypted_without_a_password(tmp_path, tree):
    tree({"hosts.yml": "web:\n  hosts:\n    web1:\n",
          "group_vars/web.yml": "$ANSIBLE_VAULT;1.1;AES256\n6162636465\n"})
    error = one_error(run_cli("inventory", "inv", "--list", cwd=tmp_path))
    assert error == ("error: inv/group_vars/web.yml:1: encrypted with ansible-vault: give its "
                     "password with --vault-password-file FILE or --vault-id [LABEL@]FILE (or "
                     "set ANSIBLE_VAULT_PASSWORD_FILE)")


def test_bad_host_ranges(tmp_path, tree):
    cases = {
        "web[01:1]": "a zero-padded host range needs begin and end of equal length",
        "web[3:1]": "the range expands to no host (is begin greater than end?)",
        "web[1:]": "a host range must give its end",
        "web[1:4:0]": "bad host range [1:4:0]",
        "web[1:4": "unclosed '['",
        "web[a:3]": "bad host range [a:3]",
    }
    for pattern, problem in cases.items():
        tree({"hosts.yml": f"all:\n  children:\n    web:\n      hosts:\n        {pattern}:\n"})
        error = one_error(run_cli("inventory", "inv", "--list", cwd=tmp_path))
        assert error == f"error: inv/hosts.yml:5: host pattern {pattern!r}: {problem}"


def test_a_section_that_is_a_list(tmp_path, tree):
    tree({"hosts.yml": "web:\n  hosts:\n    - web1\n    - web2\n"})
    error = one_error(run_cli("inventory", "inv", "--list", cwd=tmp_path))
    assert error == "error: inv/hosts.yml:2: 'hosts' of group 'web' must be a mapping, found a list"


def test_a_host_name_that_is_a_number(tmp_path, tree):
    tree({"hosts.yml": "web:\n  hosts:\n    10:\n"})
    error = one_error(run_cli("inventory", "inv", "--list", cwd=tmp_path))
    assert error == "error: inv/hosts.yml:3: host name 10 must be a string; quote it"
