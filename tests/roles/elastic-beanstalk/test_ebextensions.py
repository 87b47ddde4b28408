"""The elastic-beanstalk role: a host's cloud_init setup as an .ebextensions configuration file.

What a Beanstalk user checks: the file lands where the source bundle wants it, it holds only the
keys and value types AWS documents (``bootstrap validate``, whose schema also refuses a broken
file), it sets up the same packages, files, users and commands as the host's cloud-config, and
every setting Beanstalk cannot carry is refused by name rather than dropped.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from support.cli import one_error, run_cli, write_tree
from support.userdata import cloud_config, inventory, render

SETUP: dict[str, Any] = {
    "packages": ["htop", ["nginx", "1.24.0"]],
    "users": [{"name": "deploy", "groups": ["www", "adm"]}, {"name": "worker"}],
    "write_files": [
        {"path": "/etc/shop/app.conf", "content": "port = 8080\nworkers = 4\n", "mode": "0640",
         "owner": "deploy:www"},
        {"path": "/etc/shop/motd", "content": "trailing space \n\tand a tab: 'quoted' \"too\"\n"},
    ],
    # Eleven commands: Beanstalk runs them sorted by name, which must be the list's order.
    "runcmd": [f"echo step {n}" for n in range(10)] + [["touch", "/var/run/shop ready"]],
}
BEANSTALK: dict[str, Any] = {
    "option_settings": [
        {"namespace": "aws:autoscaling:asg", "option_name": "MinSize", "value": 2},
        {"namespace": "aws:elasticbeanstalk:application:environment", "option_name": "MODE",
         "value": "production"}],
    "container_commands": {"01_migrate": {"command": "python manage.py migrate",
                                          "leader_only": True}},
    "services": {"nginx": {}},
}


def app(roles: list[str], setup: dict[str, Any] | None = None,
        beanstalk: dict[str, Any] | None = None) -> dict[str, Any]:
    return {"bootstrap_roles": roles, "cloud_init": SETUP if setup is None else setup,
            "elastic_beanstalk": BEANSTALK if beanstalk is None else beanstalk}


def config(build: Path, host: str, order: str = "10") -> dict[str, Any]:
    return yaml.safe_load((build / host / f".ebextensions/{order}-bootstrap.config").read_text())


def test_the_file_lands_for_the_source_bundle_and_validates(tree, tmp_path):
    inv = inventory(tree, {"shop": app(["elastic-beanstalk"])})
    build = render(inv, tmp_path / "build")
    doc = config(build, "shop")
    assert doc["option_settings"][0] == {"namespace": "aws:autoscaling:asg",
                                         "option_name": "MinSize", "value": 2}
    assert doc["container_commands"] == {"01_migrate": {"command": "python manage.py migrate",
                                                        "leader_only": True}}
    assert doc["services"] == {"sysvinit": {"nginx": {"enabled": True, "ensureRunning": True}}}
    # No user-data for a Beanstalk application: Beanstalk writes its instances' own.
    assert not (build / "shop" / "user-data").exists()
    result = run_cli("validate", build)
    assert result.rc == 0, result.out + result.err
    assert "ok   shop .ebextensions/10-bootstrap.config (ebextensions schema)" in result.out


def test_the_order_names_the_file(tree, tmp_path):
    inv = inventory(tree, {"shop": app(["elastic-beanstalk"], beanstalk={"order": 5})})
    build = render(inv, tmp_path / "build")
    assert [p.name for p in (build / "shop" / ".ebextensions").iterdir()] == ["05-bootstrap.config"]


def test_packages_files_users_and_commands_match_the_cloud_config(tree, tmp_path):
    """One host, both roles: the instance's cloud-config and the Beanstalk file set up the same."""
    inv = inventory(tree, {"shop": app(["cloud-init", "elastic-beanstalk"])})
    build = render(inv, tmp_path / "build")
    cloud = cloud_config((build / "shop" / "user-data.txt").read_bytes())
    eb = config(build, "shop")

    def package(p: Any) -> tuple[str, str | None]:
        return (p[0], p[1]) if isinstance(p, list) else (p, None)

    assert {package(p) for p in cloud["packages"]} == {
        (name, versions[0] if versions else None) for name, versions in eb["packages"]["yum"].items()}

    cloud_files = {f["path"]: (f["content"], int(f["permissions"], 8), f["owner"])
                   for f in cloud["write_files"] if f["path"].startswith("/etc/shop/")}
    eb_files = {path: (f["content"], int(f["mode"], 8),
                       f["owner"] if f["group"] == "root" and ":" not in cloud_files[path][2]
                       else f"{f['owner']}:{f['group']}")
                for path, f in eb["files"].items()}
    assert cloud_files == eb_files
    assert len(eb_files) == len(SETUP["write_files"])

    cloud_users = {u["name"]: sorted(u.get("groups", [])) for u in cloud["users"]
                   if isinstance(u, dict)}
    assert cloud_users == {name: sorted(u.get("groups", [])) for name, u in eb["users"].items()}
    assert set(eb["groups"]) == {g for groups in cloud_users.values() for g in groups}

    commands = [eb["commands"][name]["command"] for name in sorted(eb["commands"])]
    assert commands == [c for c in cloud["runcmd"] if c in commands]
    assert commands == SETUP["runcmd"]


@pytest.mark.parametrize(("setup", "key", "why"), [
    ({"hostname": "shop01"}, "cloud_init.hostname", "Beanstalk names its instances"),
    ({"raid1": {"devices": ["/dev/nvme1n1", "/dev/nvme2n1"], "mount": "/data"}},
     "cloud_init.raid1", "custom AMI"),
    ({"cloud_config": {"timezone": "UTC"}}, "cloud_init.cloud_config", "no configuration-file"),
    ({"users": [{"name": "ops", "sudo": True}]}, "cloud_init.users.0.sudo", "without sudo"),
    ({"users": [{"name": "ops", "ssh_authorized_keys": [
        "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIKv3e8Y8Mx6OQqAq6M4bQ0zZ0m8E+JtQJk9yYgD6kYbL ops"]}]},
     "cloud_init.users.0.ssh_authorized_keys", "cannot log in"),
    ({"users": [{"name": "ops", "shell": "/bin/bash"}]}, "cloud_init.users.0.shell", "nologin"),
    ({"write_files": [{"path": "/etc/a", "content": "x", "append": True}]},
     "cloud_init.write_files.0.append", "never append"),
])
def test_a_setting_beanstalk_cannot_carry_is_refused_by_name(tree, tmp_path, setup, key, why):
    inv = inventory(tree, {"shop": app(["elastic-beanstalk"], setup=setup)})
    line = one_error(run_cli("render", inv, "-o", tmp_path / "build"), "host shop",
                     f"key {key}:", why)
    assert "hosts.yml:" in line, line
    assert not (tmp_path / "build").exists()


@pytest.mark.parametrize("where", ["file", "option"])
def test_a_secret_is_refused_without_being_shown(tree, tmp_path, where):
    secret = "hunter2-do-not-show"
    setup = {"write_files": [{"path": "/etc/shop/key", "content": {"file": "secrets/key"}}]}
    beanstalk = {"option_settings": [{"namespace": "aws:elasticbeanstalk:application:environment",
                                      "option_name": "DB_PASSWORD",
                                      "value": {"file": "secrets/key"}}]}
    host = app(["elastic-beanstalk"], setup=setup if where == "file" else {},
               beanstalk=beanstalk if where == "option" else {})
    inv = inventory(tree, {"shop": host}, {"secrets/key": secret})
    key = "cloud_init.write_files.0.content" if where == "file" else \
        "elastic_beanstalk.option_settings.0.value"
    result = run_cli("render", inv, "-o", tmp_path / "build")
    one_error(result, f"key {key}:", "source bundle")
    assert secret not in result.out + result.err


def test_validate_refuses_a_file_beanstalk_would_not_read(tree, tmp_path):
    """An operator's own template with a misspelt section and a short mode is caught."""
    broken = """
        fils:
          /etc/shop/app.conf:
            content: x
            mode: "644"
        """
    inv = inventory(tree, {"shop": app(["elastic-beanstalk"])})
    write_tree(inv, {"templates/elastic-beanstalk/bootstrap.config.j2": broken})
    build = render(inv, tmp_path / "build")
    result = run_cli("validate", build)
    assert result.rc != 0, result.out
    assert "Additional properties are not allowed ('fils' was unexpected)" in result.out
    write_tree(inv, {"templates/elastic-beanstalk/bootstrap.config.j2":
                     broken.replace("fils:", "files:")})
    build = render(inv, tmp_path / "build")
    result = run_cli("validate", build)
    assert result.rc != 0, result.out
    assert "files./etc/shop/app.conf.mode: '644' does not match" in result.out


def test_a_typo_in_the_namespace_is_named(tree, tmp_path):
    inv = inventory(tree, {"shop": app(["elastic-beanstalk"], beanstalk={"optoin_settings": []})})
    one_error(run_cli("render", inv, "-o", tmp_path / "build"), "host shop",
              "key elastic_beanstalk.optoin_settings")
