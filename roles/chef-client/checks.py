"""Checks of the chef-client role: the client is installed at the pinned version, reads the
settings the inventory gave it, and registered the node, after which the validator key is gone."""

from __future__ import annotations

import json
import re
import shlex
from typing import Any

from bootstrap.roles.chef_client.checkers import READ_CLIENT_RB
from bootstrap.roles.chef_client.context import DISTRIBUTIONS, host_settings


def test_client_installed_at_the_pinned_version(host: Any, hostvars: dict[str, Any]) -> None:
    settings = host_settings(hostvars)
    dist = DISTRIBUTIONS[settings.distribution]
    assert host.file(dist.client_bin).is_file, f"{dist.client_bin} is missing"
    result = host.run(shlex.join([dist.client_bin, "--version"]))
    assert result.rc == 0, f"{dist.client} --version: {(result.stderr or result.stdout).strip()}"
    found = re.search(r"(\d+(?:\.\d+)+)", result.stdout)
    assert found, f"{dist.client} --version printed no version: {result.stdout.strip()!r}"
    version = found.group(1)
    assert (version + ".").startswith(settings.version + "."), \
        f"{dist.client} is {version}; the inventory pins {settings.version}"


def test_client_rb_values(host: Any, hostvars: dict[str, Any]) -> None:
    settings = host_settings(hostvars)
    dist = DISTRIBUTIONS[settings.distribution]
    client_rb = f"{dist.conf_dir}/client.rb"
    node_name_rb = f"{dist.conf_dir}/client.d/node_name.rb"
    files = [client_rb] + ([node_name_rb] if host.file(node_name_rb).exists else [])
    # The client's own Ruby and chef-config, strict: what the next run will read.
    result = host.run(shlex.join([dist.ruby, "-e", READ_CLIENT_RB, *files]))
    assert result.rc == 0, f"{client_rb} does not load: {result.stderr.strip()}"
    values = json.loads(result.stdout)
    assert values["chef_server_url"] == settings.server_url
    assert values["validation_client_name"] == settings.validation_client_name
    assert values["ssl_verify_mode"] == settings.ssl_verify_mode
    prefix, pattern, suffix = settings.node_name.partition("%s")
    if pattern:
        named = re.fullmatch(re.escape(prefix) + r"i-[0-9a-f]+" + re.escape(suffix),
                             str(values["node_name"]))
        assert named, f"node_name is {values['node_name']!r}, not {settings.node_name} " \
                      "with the instance id"
    else:
        assert values["node_name"] == settings.node_name


def test_registered_and_validation_key_deleted(host: Any, hostvars: dict[str, Any]) -> None:
    settings = host_settings(hostvars)
    dist = DISTRIBUTIONS[settings.distribution]
    client_key = host.file(f"{dist.conf_dir}/client.pem")
    assert client_key.exists, f"{client_key.path} is missing: the node never registered"
    assert client_key.mode == 0o600, f"{client_key.path} has mode {client_key.mode:04o}"
    validation = host.file(f"{dist.conf_dir}/validation.pem")
    if settings.delete_validation_key:
        assert not validation.exists, f"{validation.path} is still there after the first converge"
    else:
        assert validation.mode == 0o600, f"{validation.path} has mode {validation.mode:04o}"
