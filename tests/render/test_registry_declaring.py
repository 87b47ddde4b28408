"""The command line learns which roles add commands without parsing every role.yml: only a
role.yml that holds the word is read (``bootstrap --help`` builds that list on every run)."""

from __future__ import annotations

import pytest

from bootstrap.errors import BootstrapError
from bootstrap.render.registry import Registry


def test_only_role_files_naming_the_key_are_parsed(tree):
    inv = tree({
        "hosts.yml": "all: {}\n",
        "roles/adds/role.yml": "commands: {hello: hello.py}\n",
        "roles/adds/hello.py": "HELP = 'hi'\n",
        # Not YAML at all: parsing it is an error, so it must not be parsed here.
        "roles/broken/role.yml": "artifacts: [\n",
    })
    registry = Registry(inv)
    found = {role.name: role.commands for role in registry.declaring("commands")}
    assert found.get("adds") == {"hello": "hello.py"}
    assert "broken" not in found
    # The same file read for rendering is still refused, at its line.
    with pytest.raises(BootstrapError) as err:
        registry.get("broken")
    assert "broken/role.yml:" in str(err.value)


def test_the_builtin_roles_that_add_commands_are_all_found():
    registry = Registry(None)
    declaring = {role.name for role in registry.declaring("commands")}
    every = {name for name in registry.names() if registry.get(name).commands}
    assert every and declaring >= every
