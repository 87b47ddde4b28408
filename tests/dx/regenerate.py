"""Regenerate the golden router files: ``python tests/dx/regenerate.py``.

Every file of the dx-router role of every host in the example inventory's group ``dx_routers``
is copied to ``tests/dx/golden/<host>/<path in the build>``, and of every router of
:mod:`dx.platforms` (the platforms the example does not hold) to
``tests/dx/golden-platforms/<host>/…``; files holding an MD5 key are stored as their redacted
copy, so no key is in the golden files. Review the result as a diff before committing.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
GOLDEN = Path(__file__).resolve().parent / "golden"
GOLDEN_PLATFORMS = Path(__file__).resolve().parent / "golden-platforms"


def render(outdir: Path) -> None:
    subprocess.run([sys.executable, "-m", "bootstrap", "render", str(ROOT / "inventory"),
                    "--limit", "dx_routers", "-o", str(outdir)], check=True, capture_output=True)


def render_platforms(outdir: Path) -> None:
    """Render the routers of :mod:`dx.platforms` into ``outdir`` (inventory in ``outdir.inv``)."""
    if str(ROOT / "tests") not in sys.path:
        sys.path.insert(0, str(ROOT / "tests"))
    from dx.platforms import ROUTERS
    from dx.routers import write_inventory

    inventory = write_inventory(outdir.with_name(outdir.name + ".inv"), ROUTERS)
    subprocess.run([sys.executable, "-m", "bootstrap", "render", str(inventory), "-o", str(outdir)],
                   check=True, capture_output=True, cwd=ROOT)


def router_files(build: Path) -> dict[str, bytes]:
    """``host/path`` → content (redacted where secret) of every dx-router file of a build."""
    out = {}
    for manifest_path in sorted(build.glob("*/manifest.json")):
        manifest = json.loads(manifest_path.read_text())
        for record in [*manifest["files"], *manifest["outputs"]]:
            if record["role"] != "dx-router":
                continue
            source = manifest_path.parent / (f".redacted/{record['path']}" if record["secret"]
                                             else record["path"])
            out[f"{manifest['host']}/{record['path']}"] = source.read_bytes()
    return out


def main() -> None:
    for folder, build in ((GOLDEN, render), (GOLDEN_PLATFORMS, render_platforms)):
        with tempfile.TemporaryDirectory() as tmp:
            build(Path(tmp, "build"))
            files = router_files(Path(tmp, "build"))
        shutil.rmtree(folder, ignore_errors=True)
        for rel, content in files.items():
            path = folder / rel
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(content)
        print(f"{len(files)} golden files in {folder.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
