"""Checks of the base role: the host's identity files say what the inventory says."""

from __future__ import annotations

import json
from typing import Any

IDENTITY = "/etc/bootstrap/host.json"


def test_identity_names_this_host(host: Any, manifest: dict[str, Any]) -> None:
    identity = json.loads(host.file(IDENTITY).content_string)
    assert identity["name"] == manifest["host"], f"{IDENTITY} belongs to another host"
    assert identity["roles"] == manifest["roles"], f"{IDENTITY} lists other roles"


def test_motd_names_this_host(host: Any, manifest: dict[str, Any]) -> None:
    motd = host.file("/etc/motd").content_string
    assert f"{manifest['host']} is managed by bootstrap" in motd

