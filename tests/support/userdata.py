"""Inventories with the cloud-init role, and user-data read back as cloud-init reads it."""

from __future__ import annotations

import email
import email.policy
import gzip
import json
from pathlib import Path
from typing import Any

import yaml

from support.cli import run_cli, write_tree

# A role of the inventory's own: a bootstrap script that leaves a completion marker, a file
# embedded in write_files, and a cloud-config fragment.
APP_ROLE = {
    "roles/app/role.yml": """
        description: an application bootstrapped at first boot
        artifacts:
          - template: app/bootstrap.sh.j2
            dest: /usr/local/sbin/app-bootstrap
            mode: "0755"
            userdata: script
          - template: app/app.conf.j2
            dest: /etc/app/app.conf
            mode: "0600"
            userdata: file
          - template: app/cloud-config.yaml.j2
            dest: app-cloud-config.yaml
            userdata: cloud-config
        """,
    "templates/app/bootstrap.sh.j2": """
        #!/bin/sh
        set -eu
        mkdir -p /var/lib/app
        printf '%s\\n' {{ vars.app_name | shell }} > /var/lib/app/bootstrap.done
        echo script >> /var/lib/app/order
        """,
    "templates/app/app.conf.j2": """
        name = {{ vars.app_name | ini }}
        listen = 8080
        """,
    "templates/app/cloud-config.yaml.j2": """
        runcmd:
          - [sh, -c, 'echo fragment >> /var/lib/app/order']
        """,
}


def inventory(tree: Any, hosts: dict[str, dict[str, Any]], files: dict[str, str] | None = None,
              name: str = "inv") -> Path:
    """An inventory folder: ``hosts`` maps each host to its variables; ``files`` adds roles etc."""
    base = tree(dict(files or {}), name=name)
    text = yaml.safe_dump({"all": {"hosts": hosts}}, sort_keys=False)
    return write_tree(base, {"hosts.yml": text})


def render(inv: Path, out: Path) -> Path:
    result = run_cli("render", inv, "-o", out)
    assert result.rc == 0, result.err
    return out


def parts(user_data: bytes) -> list[tuple[str | None, str, bytes]]:
    """(filename, content type, exact content) of each part, read as cloud-init reads them."""
    if user_data[:2] == b"\x1f\x8b":
        user_data = gzip.decompress(user_data)
    if not user_data.startswith(b"Content-Type: multipart/mixed"):
        kind = "text/cloud-config" if user_data.startswith(b"#cloud-config") else "text/x-shellscript"
        return [(None, kind, user_data)]
    message = email.message_from_bytes(user_data, policy=email.policy.compat32)
    return [(p.get_filename(), p.get_content_type(), p.get_payload(decode=True))
            for p in message.walk() if not p.is_multipart()]


def cloud_config(user_data: bytes) -> dict[str, Any]:
    """The one #cloud-config of the user-data, parsed."""
    found = [c for _, kind, c in parts(user_data) if kind == "text/cloud-config"]
    assert len(found) == 1, f"expected one cloud-config part, found {len(found)}"
    assert found[0].startswith(b"#cloud-config\n")
    return yaml.safe_load(found[0])


def report(build: Path, host: str) -> dict[str, Any]:
    return json.loads((build / host / "user-data.report.json").read_text())


def materialize(user_data: bytes, root: Path, scripts: Path) -> None:
    """What cloud-init writes from ``user_data``, moved under ``root``: each ``write_files`` entry
    at ``root`` + its path with its permissions, and each script part in ``scripts`` by its file
    name (as ``scripts_user`` finds them), where a path that write_files wrote is read under
    ``root`` too: a part that runs an installed script runs the copy under ``root``."""
    written = [str(f["path"]) for f in cloud_config(user_data).get("write_files", [])]
    for entry in cloud_config(user_data).get("write_files", []):
        path = root / str(entry["path"]).lstrip("/")
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(str(entry["content"]))
        path.chmod(int(str(entry.get("permissions", "0o644")), 8))
    scripts.mkdir(parents=True, exist_ok=True)
    for filename, kind, content in parts(user_data):
        if kind == "text/x-shellscript":
            for dest in written:
                content = content.replace(dest.encode(), f"{root}{dest}".encode())
            (scripts / str(filename)).write_bytes(content)
            (scripts / str(filename)).chmod(0o700)
