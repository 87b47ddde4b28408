"""What a render keeps between runs in ``DIR/.bootstrap/cache/``: nothing but time savers.

```
cache/templates/<key>   each template's compiled code (bootstrap.render.bytecode)
cache/stamp             the digests of the last full render's inputs (bootstrap.build.stamp)
```

Everything here is a guess a render may ignore: a missing, unreadable, corrupt, foreign or
oversized entry is a miss, and costs a compile or a full render, never a wrong output. The
folder is reached from the state folder's descriptor without following links, and is used only
when it is a real folder owned by the user running bootstrap and writable by nobody else (the
compiled code it holds is executed); anything else there is removed and made anew.
"""

from __future__ import annotations

import contextlib
import errno
import os
import stat

CACHE = "cache"
TEMPLATES = "templates"
MAX_ENTRY = 16 << 20  # bytes of one cached entry read back
_DIR = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
_READ = os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC | os.O_NONBLOCK
_PARTIAL = "tmp-"  # an entry being written; left by a killed render, removed by the next


def _private(st: os.stat_result) -> bool:
    """Owned by this user and writable by no one else: safe to take code from."""
    return st.st_uid == os.geteuid() and not st.st_mode & 0o022


def open_folder(parent: int, name: str, *, create: bool) -> int | None:
    """The descriptor of private folder ``name`` in folder ``parent``; None when it is absent
    (and not ``create``) or cannot be made private."""
    for _ in range(2):
        try:
            fd = os.open(name, _DIR, dir_fd=parent)
        except FileNotFoundError:
            if not create:
                return None
            try:
                os.mkdir(name, 0o700, dir_fd=parent)
            except OSError:
                return None
            continue
        except OSError as exc:
            if exc.errno not in (errno.ELOOP, errno.ENOTDIR) or not create:
                return None
            _discard(parent, name)
            continue
        if _private(os.fstat(fd)):
            return fd
        os.close(fd)
        if not create:
            return None
        _discard(parent, name)
    return None


def _discard(parent: int, name: str) -> None:
    """Remove whatever is at ``name``, links not followed; quietly, as a cache would."""
    from bootstrap.build.directory import _remove

    with contextlib.suppress(OSError):
        _remove(name, parent)


def read_entry(folder: int, name: str, limit: int = MAX_ENTRY) -> bytes | None:
    """The bytes of private regular file ``name``; None for anything else."""
    try:
        fd = os.open(name, _READ, dir_fd=folder)
    except OSError:
        return None
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode) or st.st_size > limit or not _private(st):
            return None
        chunks = []
        while chunk := os.read(fd, 1 << 20):
            chunks.append(chunk)
        data = b"".join(chunks)
        return data if len(data) <= limit else None
    except OSError:
        return None
    finally:
        os.close(fd)


def write_entry(folder: int, name: str, data: bytes) -> None:
    """Replace ``name`` with ``data`` in one rename (mode 0600); a failure writes nothing."""
    fd = create_partial(folder, name)
    if fd is None:
        return
    try:
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view):]
    except OSError:
        os.close(fd)
        drop_partial(folder, name)
        return
    os.close(fd)
    publish_partial(folder, name)


def create_partial(folder: int, name: str) -> int | None:
    """A new private file to write entry ``name`` into, published by :func:`publish_partial`;
    None when it cannot be made."""
    partial = _PARTIAL + name
    _discard(folder, partial)
    try:
        return os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW
                       | os.O_CLOEXEC, 0o600, dir_fd=folder)
    except OSError:
        return None


def publish_partial(folder: int, name: str) -> None:
    """Move the written partial file of ``name`` into place (what was there goes)."""
    partial = _PARTIAL + name
    try:
        with contextlib.suppress(FileNotFoundError):
            if stat.S_ISDIR(os.stat(name, dir_fd=folder, follow_symlinks=False).st_mode):
                _discard(folder, name)  # a rename cannot replace a folder
        os.rename(partial, name, src_dir_fd=folder, dst_dir_fd=folder)
    except OSError:
        _discard(folder, partial)


def drop_partial(folder: int, name: str) -> None:
    _discard(folder, _PARTIAL + name)


def remove_entry(folder: int, name: str) -> None:
    _discard(folder, name)


def clean_partials(folder: int) -> None:
    """Remove the half-written entries a killed render left."""
    with contextlib.suppress(OSError):
        for name in os.listdir(folder):
            if name.startswith(_PARTIAL):
                _discard(folder, name)
