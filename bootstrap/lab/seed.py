"""A host's NoCloud seed: its built user-data, byte for byte, and a meta-data naming it.

cloud-init's NoCloud datasource reads a filesystem labelled ``cidata`` holding ``user-data`` and
``meta-data``. The user-data is the build's file itself (gzip and MIME included), so the machine
boots from exactly what EC2 would be given.
"""

from __future__ import annotations

import errno
import json
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

from bootstrap.errors import BootstrapError
from bootstrap.lab.state import write_private

ISO_TOOLS = ("genisoimage", "xorrisofs", "mkisofs")


def meta_data(host: str, instance_id: str) -> bytes:
    """The seed's meta-data: an instance id (new per boot of a new overlay) and the host name.

    JSON is YAML, so every value is quoted whatever characters it holds.
    """
    return (json.dumps({"instance-id": instance_id, "local-hostname": host}, indent=2)
            + "\n").encode()


def user_data(build: Path, host: str) -> bytes:
    """The host's built user-data, or an error saying why there is none."""
    path = build / host / "user-data"
    if not os.path.isdir(build):
        raise BootstrapError(f"{build}: no build there; run `bootstrap render` first (or give -b)",
                             host=host)
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW)
    except FileNotFoundError:
        raise BootstrapError(f"{path}: host {host} has no user-data in the build (is it in the "
                             f"inventory, and does it have a role that writes user-data?)",
                             host=host) from None
    except OSError as exc:
        why = ("a symbolic link: the lab reads a build's own files only"
               if exc.errno == errno.ELOOP else exc.strerror)
        raise BootstrapError(f"{path}: {why}", host=host) from None
    with os.fdopen(fd, "rb") as file:
        data = file.read()
    if not data:
        raise BootstrapError(f"{path}: the user-data is empty", host=host)
    return data


def write_iso(dest: Path, files: dict[str, bytes]) -> None:
    """An ISO 9660 filesystem labelled cidata holding ``files``, written whole or not at all."""
    tool = next((t for t in ISO_TOOLS if shutil.which(t)), None)
    if tool is None:
        raise BootstrapError("no ISO writer installed (genisoimage or xorriso; see "
                             "requirements/apt-lab.txt)")
    with tempfile.TemporaryDirectory(dir=dest.parent, prefix=".seed.") as temp:
        for name, data in files.items():
            write_private(Path(temp) / name, data, 0o644)
        iso = Path(temp) / "seed.iso"
        result = subprocess.run([tool, "-quiet", "-output", str(iso), "-volid", "cidata",
                                 "-joliet", "-rock", *(str(Path(temp) / n) for n in files)],
                                capture_output=True, text=True, check=False)
        if result.returncode != 0:
            raise BootstrapError(f"{tool} could not write the seed: {result.stderr.strip()}")
        os.chmod(iso, 0o600)
        os.replace(iso, dest)
