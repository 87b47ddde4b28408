"""The one host loader: every command types hosts the same way and prints the same warnings.

render, push, verify, launch and terminate all load hosts through ``bootstrap.hosts.loader``:
the inventory's warnings and each selected host's group ties come out of each of them, a
role's context warnings out of each command that renders, and a namespace is checked on hosts
without its role whether the role is built in or the inventory's own.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from support.cli import one_error, run_cli

APP_SETTINGS = '''
from bootstrap.hosts.model import Settings


class MyApp(Settings):
    port: int
    listen: str = "0.0.0.0"
'''

# web1 and web2 are in amber and blue, which tie on color; amber has a key no group may have.
# Both are launched (cloud-init, ec2-instance) and have the inventory's own role, whose context
# warns.
HOSTS = """\
all:
  vars:
    os_family: debian
    bootstrap_roles: [base, cloud-init, ec2-instance, myapp]
    aws: {ami: ami-0d1e2b3c4a5f60718, region: eu-west-1}
    myapp: {port: 8080}
  children:
    amber:
      varz: 1
      vars: {color: amber}
      hosts:
        web1:
        web2:
    blue:
      vars: {color: blue}
      hosts:
        web1:
        web2:
"""

WARNINGS = [
    "warning: inv/hosts.yml:9: skipping unexpected key 'varz' in group 'amber' (only 'hosts', "
    "'vars' and 'children' are valid)",
    "warning: host web1: key color: groups 'amber' (inv/hosts.yml:10) and 'blue' "
    "(inv/hosts.yml:15) have the same depth and priority and set different values; "
    "'blue' wins by name",
]
ROLE_WARNING = "warning: myapp on web1: port 8080 is also the admin port"


def fleet(tree) -> Path:  # type: ignore[no-untyped-def]
    return tree({
        "hosts.yml": HOSTS,
        "roles/myapp/role.yml": """
            namespace: myapp
            model: settings.py:MyApp
            context: context.py:context
            artifacts:
              - {template: myapp/app.conf.j2, dest: /etc/myapp.conf}
            """,
        "roles/myapp/settings.py": APP_SETTINGS,
        "roles/myapp/context.py": """
            def context(target, settings):
                warnings = []
                if settings.port == 8080 and target.name == "web1":
                    warnings.append(f"myapp on {target.name}: port 8080 is also the admin port")
                return {"warnings": warnings}
            """,
        "templates/myapp/app.conf.j2": "port={{ settings.port }}\n",
    })


def warnings(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if line.startswith("warning:")]


def test_every_command_prints_the_inventorys_warnings_as_render_does(tmp_path, tree):
    fleet(tree)
    render = run_cli("render", "inv", "-o", "build", "--limit", "web1", cwd=tmp_path)
    assert render.rc == 0, render.err
    assert warnings(render.err) == [*WARNINGS, ROLE_WARNING]

    # push and verify read the build and never render: the inventory's warnings only, printed
    # before any host is worked on (web2 was never rendered, so nothing connects anywhere).
    web2 = WARNINGS[1].replace("host web1", "host web2")
    for command in (["push", "--check"], ["push", "--apply"], ["verify"]):
        result = run_cli(*command, "inv", "-b", "build", "--limit", "web2", cwd=tmp_path)
        assert result.rc == 1, (command, result.out, result.err)
        assert warnings(result.err) == [WARNINGS[0], web2], command
        lines = result.err.splitlines()
        assert lines[:2] == [WARNINGS[0], web2], command
        assert "web2" in result.out and "not rendered" in result.out.lower(), command

    # launch renders to compare the build with the inventory, so its role warnings show too.
    launch = run_cli("launch", "inv", "web1", "-b", "build", "--dry-run", cwd=tmp_path)
    assert launch.rc == 0, launch.err
    assert warnings(launch.err) == [*WARNINGS, ROLE_WARNING]
    assert launch.out.rstrip().endswith("dry run: 1 host, no call made")

    terminate = run_cli("terminate", "inv", "web1", "--dry-run", cwd=tmp_path)
    assert terminate.rc == 0, terminate.err
    assert warnings(terminate.err) == WARNINGS


def test_a_failing_command_still_prints_the_warnings_before_its_error(tmp_path, tree):
    fleet(tree)
    result = run_cli("launch", "inv", "web1", "-b", "no-build", "--dry-run", cwd=tmp_path)
    assert result.rc == 1
    lines = result.err.splitlines()
    assert lines[:2] == WARNINGS
    assert lines[-1].startswith("error: ") and "no-build/web1/manifest.json is missing" in lines[-1]


USER_ROLE = {
    "roles/myapp/role.yml": """
        namespace: myapp
        model: settings.py:MyApp
        artifacts:
          - {template: myapp/app.conf.j2, dest: /etc/myapp.conf}
        """,
    "roles/myapp/settings.py": APP_SETTINGS,
    "templates/myapp/app.conf.j2": "port={{ settings.port }}\n",
}


def test_a_user_roles_namespace_is_checked_on_hosts_without_the_role(tmp_path, tree):
    inv = tree({**USER_ROLE, "hosts.yml": """
        all:
          vars:
            bootstrap_roles: [base]
          hosts:
            h1:
              myapp:
                lisen: 127.0.0.1
            h2:
              myapp:
                listen: 127.0.0.1
        """})
    one_error(run_cli("render", inv, "-o", tmp_path / "b"), "hosts.yml:7", "host h1",
              "key myapp.lisen", "did you mean 'listen'", quiet=False)
    hosts = inv / "hosts.yml"
    hosts.write_text(hosts.read_text().replace("lisen: 127.0.0.1", "port: eighty"))
    one_error(run_cli("render", inv, "-o", tmp_path / "b"), "hosts.yml:7", "host h1",
              "key myapp.port", "integer", quiet=False)
    hosts.write_text(hosts.read_text().replace("port: eighty", "listen: 10.0.0.1"))
    # Only keys and types: myapp.port is required by the role, not by the namespace.
    result = run_cli("render", inv, "-o", tmp_path / "b")
    assert result.rc == 0, result.err
    assert not (tmp_path / "b" / "h1" / "files" / "etc" / "myapp.conf").exists()


def test_a_user_role_and_a_built_in_one_give_the_same_error_for_a_stray_key(tmp_path, tree):
    """The same mistake in a namespace whose role the host lacks, built-in or the inventory's."""
    messages = []
    for namespace in ("puppet", "myapp"):
        inv = tree({**USER_ROLE, "hosts.yml": f"""
            all:
              vars:
                bootstrap_roles: [base]
              hosts:
                h1:
                  {namespace}:
                    colour: x
            """}, name=f"inv-{namespace}")
        line = one_error(run_cli("render", inv, "-o", tmp_path / namespace), quiet=False)
        messages.append(line.replace(str(inv), "INV").replace(namespace, "NS"))
    same = "error: INV/hosts.yml:7: host h1: key NS.colour: unknown key 'colour'; known keys: "
    assert [m.startswith(same) for m in messages] == [True, True], messages


def test_push_and_verify_need_no_renderer(tmp_path, tree):
    """Loading the fleet for push and verify types hosts without a template environment."""
    inv = tree({**USER_ROLE, "hosts.yml": "all: {hosts: {h1: {bootstrap_roles: [myapp], "
                                          "myapp: {port: 80}}}}\n"})
    assert run_cli("render", inv, "-o", tmp_path / "build").rc == 0
    code = ("import sys\nfrom pathlib import Path\n"
            "from bootstrap.commands import push, verify\n"
            "from bootstrap.fleet import pool, push as pushing, verify as verifying\n"
            f"fleet = pool.load(Path({str(inv)!r}), Path({str(tmp_path / 'build')!r}), None)\n"
            "print(fleet.hosts[0].roles, fleet.hosts[0].connection.ansible_port, sorted(\n"
            "    m for m in sys.modules if m.split('.')[0] == 'jinja2'\n"
            "    or m == 'bootstrap.render.renderer'))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout == "['myapp'] 22 []\n"
