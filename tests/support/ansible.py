"""ansible-core's own command-line tools, run so that nothing on the machine can sway them.

Each run gets an empty working directory (no ``group_vars/`` beside a playbook dir, no
``ansible.cfg``), an empty config file of its own, a private ``ANSIBLE_HOME``, no inherited
``ANSIBLE_*`` variable, and only the YAML inventory plugin and the host_group_vars vars plugin,
which are what an Ansible user's YAML inventory goes through. A source Ansible cannot parse
fails the run instead of being skipped with a warning.
"""

from __future__ import annotations

import json
import os
import subprocess
import tempfile
from pathlib import Path
from typing import Any

from bootstrap.validate.programs import which
from support import waits


def tool(name: str) -> str:
    """The ansible-core executable beside this Python (a virtualenv's bin), else on PATH."""
    found = which(name)
    if found is None:
        raise RuntimeError(f"{name} not found: install ansible-core (requirements/pip-core.txt)")
    return found


def run(name: str, *args: str | Path, plugins: str = "yaml") -> subprocess.CompletedProcess[str]:
    """Run an ansible-core tool; ``plugins`` are the inventory plugins it may use, in order."""
    with tempfile.TemporaryDirectory(prefix="ansible-neutral-") as tmp:
        home = Path(tmp)
        (home / "ansible.cfg").write_text("[defaults]\n")
        env = {k: v for k, v in os.environ.items() if not k.startswith("ANSIBLE_")}
        env.update({
            "HOME": str(home),
            "LC_ALL": "C.UTF-8",
            "ANSIBLE_CONFIG": str(home / "ansible.cfg"),
            "ANSIBLE_HOME": str(home / ".ansible"),
            "ANSIBLE_LOCAL_TEMP": str(home / "tmp"),
            "ANSIBLE_INVENTORY_ENABLED": plugins,
            "ANSIBLE_VARS_ENABLED": "host_group_vars",
            "ANSIBLE_INVENTORY_UNPARSED_FAILED": "true",
            "ANSIBLE_INVENTORY_ANY_UNPARSED_IS_FAILED": "true",
            "ANSIBLE_NOCOLOR": "1",
            "ANSIBLE_DEPRECATION_WARNINGS": "false",
        })
        return subprocess.run([tool(name), *map(str, args)], cwd=home, env=env,
                              capture_output=True, text=True, timeout=waits.allowance(300))


def inventory_list(*sources: Path, plugins: str = "yaml") -> dict[str, Any]:
    """``ansible-inventory -i SOURCE... --list`` as JSON, without the ``_meta.profile`` tag."""
    args = [arg for source in sources for arg in ("-i", str(Path(source).resolve()))]
    proc = run("ansible-inventory", *args, "--list", plugins=plugins)
    if proc.returncode != 0:
        raise AssertionError(f"ansible-inventory failed ({proc.returncode}):\n{proc.stderr}")
    data = json.loads(proc.stdout)
    data["_meta"].pop("profile", None)  # 'inventory_legacy': the encoder ansible-core 2.18+ used
    return data


def list_hosts(source: Path, limit: str) -> set[str] | None:
    """Hosts ``ansible all -i SOURCE --list-hosts --limit LIMIT`` targets; None when none."""
    proc = run("ansible", "all", "-i", str(Path(source).resolve()), "--list-hosts", "--limit", limit)
    if proc.returncode != 0:
        if "no hosts to target" in proc.stderr or "No hosts matched" in proc.stderr:
            return None
        raise AssertionError(f"ansible --list-hosts failed ({proc.returncode}):\n{proc.stderr}")
    lines = proc.stdout.splitlines()
    if not lines or not lines[0].strip().startswith("hosts ("):
        raise AssertionError(f"unexpected ansible --list-hosts output:\n{proc.stdout}")
    return {line.strip() for line in lines[1:] if line.strip()}
