"""Stage 4, the build directory: what render's artifacts change in it, and how it is written.

``planner`` compares the rendered artifacts with the previous build and says what changes (and
shows the diff), ``directory`` is the atomic writer and the one reader of a build
(:meth:`~bootstrap.build.directory.BuildDir.manifest`), ``manifest`` the typed records of a host
folder that every command reads.
"""

from bootstrap.build.manifest import FLEET, MANIFEST, FileRecord, Manifest

__all__ = ["FLEET", "MANIFEST", "FileRecord", "Manifest"]
