"""Checks of the cloud-init role: did the first boot finish, and is what the user-data asked for there?

Each check is ``test_x(host, hostvars, manifest)``: ``host`` is a testinfra Host, ``hostvars`` the
host's resolved inventory variables, ``manifest`` its build manifest (``manifest.json``).
"""

from __future__ import annotations

import re
from typing import Any

BOOT_FINISHED = "/var/lib/cloud/instance/boot-finished"
SECRET = re.compile(r"<secret:[a-z]+:[^>]*>")


def _settings(hostvars: dict[str, Any]) -> dict[str, Any]:
    value = hostvars.get("cloud_init")
    return value if isinstance(value, dict) else {}


def test_cloud_init_done(host: Any, hostvars: dict[str, Any], manifest: dict[str, Any]) -> None:
    """cloud-init ran every stage without an error (a failed module or script says 'error')."""
    result = host.run("cloud-init status --long")
    assert "status: done" in result.stdout, (
        f"cloud-init status is not 'done':\n{result.stdout}{result.stderr}")


def test_boot_finished(host: Any, hostvars: dict[str, Any], manifest: dict[str, Any]) -> None:
    """The final stage, which runs the bootstrap scripts and runcmd, reached its end."""
    assert host.file(BOOT_FINISHED).exists, f"{BOOT_FINISHED} is missing: the final stage never ended"


def test_hostname(host: Any, hostvars: dict[str, Any], manifest: dict[str, Any]) -> None:
    expected = _settings(hostvars).get("hostname") or manifest["host"]
    actual = host.file("/etc/hostname").content_string.strip()
    assert actual == expected, f"/etc/hostname is {actual!r}, the inventory says {expected!r}"


def test_users(host: Any, hostvars: dict[str, Any], manifest: dict[str, Any]) -> None:
    for spec in _settings(hostvars).get("users", []):
        user = host.user(spec["name"])
        assert user.exists, f"user {spec['name']} does not exist"
        missing = set(spec.get("groups", [])) - set(user.groups)
        assert not missing, f"user {spec['name']} is not in group(s) {', '.join(sorted(missing))}"
        keys = spec.get("ssh_authorized_keys", [])
        if keys:
            found = host.file(f"{user.home}/.ssh/authorized_keys").content_string.splitlines()
            absent = [k for k in keys if k not in found]
            assert not absent, f"user {spec['name']} lacks {len(absent)} authorized key(s)"


def test_files(host: Any, hostvars: dict[str, Any], manifest: dict[str, Any]) -> None:
    for spec in _settings(hostvars).get("write_files", []):
        path = spec["path"]
        found = host.file(path)
        assert found.exists, f"{path} is missing"
        mode = int(str(spec.get("mode", "0644")).replace("o", ""), 8)
        assert found.mode == mode, f"{path} has mode {found.mode:04o}, expected {mode:04o}"
        user, _, group = str(spec.get("owner", "root:root")).partition(":")
        assert found.user == user, f"{path} is owned by {found.user}, expected {user}"
        if group:
            assert found.group == group, f"{path} has group {found.group}, expected {group}"
        content = spec.get("content", "")
        # A secret's value is not in hostvars (only its placeholder), so it is not compared.
        if isinstance(content, str) and not SECRET.fullmatch(content) and not spec.get("append"):
            assert found.content_string == content, f"{path} differs from the inventory's content"
