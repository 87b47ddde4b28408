"""Checks of the puppet-agent role: the agent is installed, its live puppet.conf holds the settings
the inventory gave it and the certname it registered with, and its CA signed its certificate."""

from __future__ import annotations

import json
import shlex
from typing import Any

from bootstrap.roles.puppet_agent.checkers import same
from bootstrap.roles.puppet_agent.context import MARKER, conf_sections, host_plan


def _puppet(host: Any, hostvars: dict[str, Any], *args: str) -> Any:
    _, plan = host_plan(hostvars)
    return host.run(shlex.join([plan.puppet, *args]))


def test_agent_package_installed(host: Any, hostvars: dict[str, Any]) -> None:
    _, plan = host_plan(hostvars)
    installed = [p for p in plan.packages if host.package(p).is_installed]
    assert installed, f"none of {', '.join(plan.packages)} is installed"


def test_bootstrap_finished(host: Any) -> None:
    assert host.file(MARKER).exists, f"{MARKER} is missing: the bootstrap script did not finish"


def test_puppet_conf_values(host: Any, hostvars: dict[str, Any]) -> None:
    settings, plan = host_plan(hostvars)
    conf = f"{plan.confdir}/puppet.conf"
    for section in conf_sections(settings):
        names = [name for name, _ in section["settings"]]
        result = _puppet(host, hostvars, "config", "print", *names, "--config", conf,
                         "--section", section["name"], "--render-as", "json")
        assert result.rc == 0 and "Error:" not in result.stderr, result.stderr
        printed = json.loads(result.stdout)
        for name, value in section["settings"]:
            assert same(str(value), printed.get(name)), \
                f"[{section['name']}] {name}: the inventory says {value!r}, Puppet reads " \
                f"{printed.get(name)!r}"


def test_certname_is_the_registered_one(host: Any, hostvars: dict[str, Any]) -> None:
    settings, plan = host_plan(hostvars)
    result = _puppet(host, hostvars, "config", "print", "certname", "--config",
                     f"{plan.confdir}/puppet.conf", "--section", "agent")
    certname = result.stdout.strip()
    expected = settings.certname or host.file(MARKER).content_string.strip()
    assert certname == expected, f"certname is {certname!r}, registered as {expected!r}"


def test_agent_certificate_signed(host: Any, hostvars: dict[str, Any]) -> None:
    result = _puppet(host, hostvars, "ssl", "verify")
    assert result.rc == 0, f"puppet ssl verify: {(result.stderr or result.stdout).strip()}"
