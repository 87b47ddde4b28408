"""An installed wheel carries the built-in roles and templates and works outside the checkout."""

from __future__ import annotations

import shutil
import subprocess
import sys
import zipfile

from support.cli import ROOT


def test_wheel_has_roles_and_templates_and_renders_the_example(tmp_path):
    dist = tmp_path / "dist"
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation",
                    "-q", "-w", str(dist), str(ROOT)], check=True)
    wheel = next(dist.glob("bootstrap-*.whl"))
    names = zipfile.ZipFile(wheel).namelist()
    assert "bootstrap/roles/base/role.yml" in names
    assert "bootstrap/templates/base/motd.j2" in names

    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    subprocess.run([venv / "bin" / "pip", "install", "-q", str(wheel)], check=True)
    inventory = tmp_path / "inventory"
    shutil.copytree(ROOT / "inventory", inventory)
    where = subprocess.run([venv / "bin" / "python", "-c", "import bootstrap; print(bootstrap.__file__)"],
                           cwd=tmp_path, capture_output=True, text=True, check=True)
    assert where.stdout.startswith(str(venv))
    out = tmp_path / "build"
    proc = subprocess.run([venv / "bin" / "bootstrap", "render", str(inventory), "-o", str(out)],
                          cwd=tmp_path, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    assert "web01 is managed by bootstrap" in (out / "web01/files/etc/motd").read_text()
