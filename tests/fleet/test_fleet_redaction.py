"""push and verify never show a secret of a host in what they say about it (no host needed:
the messages about an unreachable host hold the address and port, which a secret may match)."""

from __future__ import annotations

import pytest
from support.cli import run_cli, write_tree

LONG = "Zq8-distinctive-S3cret"


def build_for(tmp_path, secret: str):
    inv = write_tree(tmp_path / "inv", {
        "hosts.yml": """
            all:
              hosts:
                app1:
                  ansible_host: 127.0.0.1
                  ansible_port: 1
                  bootstrap_roles: [app]
                  pw: {file: secrets/pw}
            """,
        "roles/app/role.yml": "artifacts:\n  - {template: app.j2, dest: /etc/app.conf}\n",
        "templates/app.j2": "pw = {{ vars.pw | ini }}\n",
    })
    (inv / "secrets").mkdir()
    (inv / "secrets/pw").write_text(secret + "\n")
    build = tmp_path / "build"
    assert run_cli("render", inv, "-o", build).rc == 0
    return inv, build


@pytest.mark.parametrize("command", ["push", "verify"])
def test_a_short_secret_found_in_a_message_withholds_the_message(tmp_path, command):
    inv, build = build_for(tmp_path, "1")  # in "127.0.0.1:1"
    result = run_cli(command, inv, "--build", build, "--known-hosts", tmp_path / "known",
                     "--retries", "0", "--timeout", "5")
    assert result.rc == 1, result.out + result.err
    assert "message withheld: it holds a short secret value of this host" in result.out
    assert "<secret>" not in result.out + result.err
    assert "Traceback" not in result.err


@pytest.mark.parametrize("command", ["push", "verify"])
def test_a_message_without_the_secret_is_shown(tmp_path, command):
    inv, build = build_for(tmp_path, LONG)
    result = run_cli(command, inv, "--build", build, "--known-hosts", tmp_path / "known",
                     "--retries", "0", "--timeout", "5")
    assert result.rc == 1
    assert "127.0.0.1:1" in result.out and "withheld" not in result.out
    assert LONG not in result.out + result.err
