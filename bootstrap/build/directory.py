"""The build directory on disk: one writer at a time, all-or-nothing changes, no link followed.

Everything the tool creates, replaces, reads back or deletes in a build is reached from a
descriptor of the build directory, one path component at a time, each folder opened with
``O_NOFOLLOW | O_DIRECTORY``: a symbolic link planted anywhere inside a build can neither
redirect a write nor make a read leave the build. A link where a folder is needed is an error;
a link where a file is written is replaced like any old file (the rename replaces the link
itself, never what it points to).

``DIR/.bootstrap/`` holds the tool's own state:

```
lock        flock: a render holds it exclusively, push/verify/validate/launch shared
hosts.json  the host folders bootstrap wrote: the only folders a full render ever prunes
journal     the planned renames of a render in progress; deleting it commits the render
stage/      every new file and new host folder, written before anything in the build changes
backup/     each file or host folder a render replaces or removes, moved aside until the commit
```

A render stages everything, writes and fsyncs the journal, moves each old file to ``backup/``
and each staged file into place, then deletes the journal (the commit) and ``stage/`` and
``backup/``. A render killed at any moment is undone by the next one before it plans (the
journal lists what to move back); a reader finding a journal refuses until a render has run.
The state files are untrusted input too: every path in them must be a normalized relative path
inside the build, or they are refused.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import json
import os
import re
import shutil
import stat
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from bootstrap.build.manifest import (
    MANIFEST,
    Manifest,
    ManifestProblem,
    name_problem,
    parse,
    path_problem,
)
from bootstrap.errors import BootstrapError

STATE = ".bootstrap"
LOCK = "lock"
HOSTS = "hosts.json"
JOURNAL = "journal"
STAGE = "stage"
BACKUP = "backup"
MAX_STATE = 64 << 20  # bytes of a manifest, journal or hosts.json read back
_DIR = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
# O_NONBLOCK: a FIFO planted in a build must not hang the reader; only regular files are read.
_FILE = os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC | os.O_NONBLOCK
_NEW = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
_SCRATCH = re.compile(r"[a-z][0-9]{1,9}")  # names of files in stage/ and backup/


class Tree:
    """The folders under one descriptor, each opened without following links, kept open."""

    def __init__(self, fd: int, shown: str, host: str | None = None) -> None:
        self.fds: dict[str, int] = {"": fd}
        self.shown = shown
        self.host = host

    def folder(self, rel: str, *, create: bool = False) -> int | None:
        """The descriptor of folder ``rel`` ('' is the top); None when it does not exist.

        A link or a file where a folder must be is an error: nothing is written through it.
        """
        fd = self.fds.get(rel)
        if fd is not None:
            return fd
        parent_rel, _, name = rel.rpartition("/")
        parent = self.folder(parent_rel, create=create)
        if parent is None:
            return None
        try:
            fd = os.open(name, _DIR, dir_fd=parent)
        except FileNotFoundError:
            if not create:
                return None
            os.mkdir(name, dir_fd=parent)
            fd = os.open(name, _DIR, dir_fd=parent)
        except OSError as exc:
            if exc.errno in (errno.ELOOP, errno.ENOTDIR):
                raise self.not_a_folder(rel) from None
            raise
        self.fds[rel] = fd
        return fd

    def not_a_folder(self, rel: str) -> BootstrapError:
        return BootstrapError(f"{self.shown}/{rel} is a link or a file where bootstrap keeps a "
                              "folder; it writes nothing through links: remove it and render "
                              "again", host=self.host)

    def locate(self, rel: str, *, create: bool = False) -> tuple[int | None, str]:
        """The descriptor of the folder holding ``rel`` and its last component."""
        parent, _, name = rel.rpartition("/")
        return self.folder(parent, create=create), name

    def _existing(self, rel: str) -> tuple[int, str] | None:
        """Where ``rel`` would be: its folder's descriptor and name; None when a folder above it
        is missing or is not a plain folder (a reader looks, it never complains)."""
        try:
            fd, name = self.locate(rel)
        except BootstrapError:
            return None
        return None if fd is None else (fd, name)

    def lstat(self, rel: str) -> os.stat_result | None:
        """What is at ``rel``, links not followed; None when nothing (or a link above it)."""
        where = self._existing(rel)
        if where is None:
            return None
        try:
            return os.stat(where[1], dir_fd=where[0], follow_symlinks=False)
        except OSError:
            return None

    def read(self, rel: str, limit: int = MAX_STATE) -> bytes | None:
        """The bytes of regular file ``rel``; None when absent, a link, not a file or too big."""
        where = self._existing(rel)
        if where is None:
            return None
        try:
            handle = os.open(where[1], _FILE, dir_fd=where[0])
        except OSError:
            return None
        try:
            st = os.fstat(handle)
            if not stat.S_ISREG(st.st_mode) or st.st_size > limit:
                return None
            chunks = []
            while chunk := os.read(handle, 1 << 20):
                chunks.append(chunk)
            return b"".join(chunks)
        finally:
            os.close(handle)

    def forget(self, top: str) -> None:
        """Close folder ``top`` and the folders opened below it: a build of many hosts must not
        keep a descriptor per folder it ever visited."""
        below = top + "/"
        for rel in [r for r in self.fds if r == top or r.startswith(below)]:
            if rel:
                os.close(self.fds.pop(rel))

    def close(self) -> None:
        """Close every folder opened below the top (the top belongs to its opener)."""
        for rel, fd in self.fds.items():
            if rel:
                os.close(fd)
        self.fds = {"": self.fds[""]}


def write_file(fd: int, name: str, content: bytes, mode: int, umask: int) -> None:
    """Create ``name`` in folder ``fd`` (it must not exist yet) with exactly ``mode``."""
    handle = os.open(name, _NEW, mode, dir_fd=fd)
    try:
        if mode & umask:  # the umask must not narrow what the manifest says
            os.fchmod(handle, mode)
        view = memoryview(content)
        while view:
            view = view[os.write(handle, view):]
    finally:
        os.close(handle)


def current_umask() -> int:
    value = os.umask(0)
    os.umask(value)
    return value


class BuildDir:
    """An open build directory: its descriptor, its lock, and its host folders."""

    def __init__(self, path: Path, fd: int | None) -> None:
        self.path = path
        self.fd = fd  # None: the directory does not exist (a --check of a first render)
        self.root = Tree(fd, str(path)) if fd is not None else None
        self.state: int | None = None
        self.lock: int | None = None
        self.cache: int | None = None  # STATE/cache, opened by :meth:`cache_folder`
        self._hosts: dict[str, Tree | None] = {}

    # -- opening -------------------------------------------------------------------------------

    @classmethod
    @contextlib.contextmanager
    def writing(cls, path: Path, *, create: bool = True) -> Iterator[BuildDir]:
        """The build, locked for a render, an interrupted render rolled back first.

        A build directory this call creates is removed again when the render fails: a failed
        first render leaves no trace.
        """
        new = create and not os.path.lexists(path)
        fd = _open_root(path, create=create)
        try:
            with cls._opened(path, fd) as build:
                if fd is not None:
                    build._open_state(create=create)
                if build.state is not None and (create or os.access(".", os.W_OK,
                                                                     dir_fd=build.state)):
                    build._lock(fcntl.LOCK_EX)
                    build.recover()
                elif build.state is not None:  # --check of a build this user cannot write
                    build._lock(fcntl.LOCK_SH)
                    build._refuse_interrupted()
                yield build
        except BaseException:
            if new:
                _remove_new_build(path)
            raise

    @classmethod
    @contextlib.contextmanager
    def reading(cls, path: Path) -> Iterator[BuildDir]:
        """The build for a command that only reads it: shared lock, refused mid-render."""
        fd = _open_root(path, create=False)
        if fd is None:
            raise BootstrapError(f"{path}: no build directory here; run: bootstrap render "
                                 f"INVENTORY -o {path}")
        with cls._opened(path, fd) as build:
            build._open_state(create=False)
            if build.state is not None:
                build._lock(fcntl.LOCK_SH)
                build._refuse_interrupted()
            yield build

    @classmethod
    @contextlib.contextmanager
    def _opened(cls, path: Path, fd: int | None) -> Iterator[BuildDir]:
        """The build on ``fd``, closed afterwards; a file system error is one line naming it."""
        build = cls(path, fd)
        try:
            yield build
        except OSError as exc:
            raise _os_error(path, exc) from None
        finally:
            build.close()

    def _open_state(self, *, create: bool) -> None:
        assert self.fd is not None
        try:
            self.state = os.open(STATE, _DIR, dir_fd=self.fd)
        except FileNotFoundError:
            if not create:
                return
            try:
                os.mkdir(STATE, 0o755, dir_fd=self.fd)
                self.state = os.open(STATE, _DIR, dir_fd=self.fd)
            except OSError as exc:
                raise BootstrapError(f"{self.path}: cannot write there: {exc.strerror}") from None
        except OSError as exc:
            if exc.errno in (errno.ELOOP, errno.ENOTDIR):
                raise BootstrapError(f"{self.path}/{STATE} is not the folder bootstrap keeps its "
                                     "state in (a link or a file?): remove it") from None
            raise

    def _refuse_interrupted(self) -> None:
        assert self.state is not None
        if _exists(JOURNAL, self.state):
            raise BootstrapError(f"{self.path} holds an interrupted render; run: bootstrap "
                                 "render (it restores or completes the build)")

    def _lock(self, kind: int) -> None:
        assert self.state is not None
        try:
            flags = os.O_RDWR | os.O_CREAT if kind == fcntl.LOCK_EX else os.O_RDONLY
            self.lock = os.open(LOCK, flags | os.O_NOFOLLOW | os.O_CLOEXEC, 0o644,
                                dir_fd=self.state)
        except FileNotFoundError:
            return  # a build written before locks existed, read-only: nothing to wait for
        except OSError as exc:
            raise BootstrapError(f"{self.path}/{STATE}/{LOCK}: cannot open the lock: "
                                 f"{exc.strerror}") from None
        try:
            fcntl.flock(self.lock, kind | fcntl.LOCK_NB)
        except BlockingIOError:
            print(f"waiting for another bootstrap command using {self.path} to finish",
                  file=sys.stderr, flush=True)
            fcntl.flock(self.lock, kind)

    def cache_folder(self) -> int | None:
        """The descriptor of the state's private cache folder (made when missing), for a writer
        holding the lock; None when there is no state folder or it cannot hold one."""
        if self.cache is None and self.state is not None and self.lock is not None and \
                os.access(".", os.W_OK, dir_fd=self.state):
            from bootstrap.build.cache import CACHE, open_folder

            self.cache = open_folder(self.state, CACHE, create=True)
        return self.cache

    def close(self) -> None:
        for tree in self._hosts.values():
            if tree is not None:
                tree.close()
                os.close(tree.fds[""])
        self._hosts.clear()
        if self.root is not None:
            self.root.close()
        for fd in (self.cache, self.lock, self.state, self.fd):
            if fd is not None:
                os.close(fd)
        self.cache = self.lock = self.state = self.fd = None

    # -- reading -------------------------------------------------------------------------------

    def listing(self) -> set[str]:
        """The names in the build directory (its own state folder left out)."""
        if self.fd is None:
            return set()
        return set(os.listdir(self.fd)) - {STATE}

    def hosts(self) -> list[str]:
        """The host folders present: real folders holding a manifest, links not followed."""
        out = []
        for name in sorted(self.listing()):
            if name.startswith(".") or self.fd is None:
                continue
            try:
                st = os.stat(name, dir_fd=self.fd, follow_symlinks=False)
            except OSError:
                continue
            tree = self.host(name) if stat.S_ISDIR(st.st_mode) else None
            if tree is not None and tree.lstat(MANIFEST) is not None:
                out.append(name)
        return out

    def host(self, name: str) -> Tree | None:
        """Host folder ``name`` (None when absent); a link or file there is an error."""
        if name in self._hosts:
            return self._hosts[name]
        tree = None
        if self.fd is not None:
            try:
                fd = os.open(name, _DIR, dir_fd=self.fd)
            except FileNotFoundError:
                fd = None
            except OSError as exc:
                if exc.errno in (errno.ELOOP, errno.ENOTDIR):
                    raise BootstrapError(f"{self.path}/{name} is a link or a file, not a host "
                                         "folder bootstrap wrote: remove it and render again",
                                         host=name) from None
                raise
            if fd is not None:
                tree = Tree(fd, f"{self.path}/{name}", host=name)
        self._hosts[name] = tree
        return tree

    def release(self, name: str) -> None:
        """Close host folder ``name`` and its subfolders (it is opened again when needed)."""
        tree = self._hosts.pop(name, None)
        if tree is not None:
            tree.close()
            os.close(tree.fds[""])

    def manifest(self, host: str, *, files: bool = False) -> Manifest | None:
        """Host ``host``'s manifest, checked; None when the host folder or its manifest is absent.

        ``files``: each file it lists must be there too, a regular file reached without links.
        Every command that reads a build reads its manifests here.
        """
        tree = self.host(host)
        shown = f"{self.path}/{host}/{MANIFEST}"
        if tree is None:
            return None
        raw = tree.read(MANIFEST)
        if raw is None:
            if tree.lstat(MANIFEST) is None:
                return None
            raise BootstrapError(f"{shown} is not a regular file of at most {MAX_STATE} bytes "
                                 "(a link?); run: bootstrap render", host=host)
        try:
            data = json.loads(raw)
        except ValueError:
            raise BootstrapError(f"{shown} is not valid JSON; run: bootstrap render",
                                 host=host) from None
        try:
            manifest = parse(data, host)
        except ManifestProblem as exc:
            raise BootstrapError(f"{shown} is not a manifest bootstrap wrote ({exc}); run: "
                                 "bootstrap render", host=host) from None
        for record in manifest.records if files else ():
            st = tree.lstat(record.path)
            if st is None or not stat.S_ISREG(st.st_mode):
                what = "missing" if st is None else "a link" if stat.S_ISLNK(st.st_mode) else \
                    "not a regular file"
                raise BootstrapError(f"{tree.shown}/{record.path} is {what}, but the manifest "
                                     "lists a file there; run: bootstrap render", host=host)
        return manifest

    def written_hosts(self) -> tuple[set[str] | None, str]:
        """The host folders bootstrap recorded writing, and a warning when the record is bad.

        None when there is no usable record: then nothing is pruned.
        """
        if self.state is None:
            return None, ""
        raw = Tree(self.state, f"{self.path}/{STATE}").read(HOSTS)
        if raw is None:
            return None, ""
        try:
            data = json.loads(raw)
            names = data["hosts"]
            if not isinstance(names, list) or not all(
                    isinstance(n, str) and not name_problem(n) for n in names):
                raise ValueError
        except (ValueError, KeyError, TypeError):
            return None, (f"{self.path}/{STATE}/{HOSTS} is not a list of host folders; "
                          "nothing is pruned, it is written anew")
        return set(names), ""

    # -- rolling back --------------------------------------------------------------------------

    def recover(self) -> None:
        """Undo an uncommitted render, then remove what any render left behind."""
        assert self.state is not None and self.root is not None
        raw = Tree(self.state, f"{self.path}/{STATE}").read(JOURNAL)
        if raw is not None or _exists(JOURNAL, self.state):
            ops = _parse_journal(raw, f"{self.path}/{STATE}/{JOURNAL}")
            stage = _scratch(self.state, STAGE, create=True)
            backup = _scratch(self.state, BACKUP, create=True)
            try:
                visiting = ""
                for op in reversed(ops):
                    visiting = _visit(self.root, visiting, op)
                    _undo(op, self.root, stage, backup)
            finally:
                os.close(stage)
                os.close(backup)
                self.root.close()
            os.unlink(JOURNAL, dir_fd=self.state)
            os.fsync(self.state)
            print(f"warning: {self.path}: an interrupted render was rolled back",
                  file=sys.stderr)
        for name in (STAGE, BACKUP, JOURNAL + ".new"):
            _remove(name, self.state)


def _os_error(path: Path, exc: OSError) -> BootstrapError:
    where = f" ({exc.filename})" if exc.filename else ""
    return BootstrapError(f"{path}: {exc.strerror or exc}{where}; the previous build is kept")


def _open_root(path: Path, *, create: bool) -> int | None:
    """The build directory's descriptor; the path given by the user may itself be a link."""
    try:
        return os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    except FileNotFoundError:
        if os.path.lexists(path):
            raise BootstrapError(f"{path} is a link to a missing folder: point -o at a folder"
                                 ) from None
        if not create:
            return None
    except NotADirectoryError:
        raise BootstrapError(f"{path} is not a folder: point -o at a folder") from None
    except OSError as exc:
        raise BootstrapError(f"{path}: cannot open: {exc.strerror}") from None
    try:
        os.makedirs(path)
        return os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    except OSError as exc:
        raise BootstrapError(f"{path}: cannot create the build directory: "
                             f"{exc.strerror}") from None


def _remove_new_build(path: Path) -> None:
    """Remove a build directory made by a render that failed: its state folder, then the folder
    itself if nothing else appeared in it meanwhile."""
    with contextlib.suppress(OSError):
        fd = os.open(path, _DIR)
        try:
            _remove(STATE, fd)
        finally:
            os.close(fd)
        os.rmdir(path)


def _exists(name: str, fd: int) -> bool:
    try:
        os.stat(name, dir_fd=fd, follow_symlinks=False)
    except FileNotFoundError:
        return False
    return True


def _is_file(name: str, fd: int) -> bool:
    """Something other than a folder is at ``name`` (a link counts, not followed)."""
    try:
        return not stat.S_ISDIR(os.stat(name, dir_fd=fd, follow_symlinks=False).st_mode)
    except FileNotFoundError:
        return False


def _remove(name: str, fd: int) -> None:
    """Remove entry ``name`` of folder ``fd`` whatever it is, never following a link."""
    try:
        st = os.stat(name, dir_fd=fd, follow_symlinks=False)
    except FileNotFoundError:
        return
    if stat.S_ISDIR(st.st_mode):
        shutil.rmtree(name, dir_fd=fd)  # descriptor-based: links inside are removed, not followed
    else:
        os.unlink(name, dir_fd=fd)


def _scratch(state: int, name: str, *, create: bool) -> int:
    """stage/ or backup/, a real folder (anything else there is removed first)."""
    try:
        return os.open(name, _DIR, dir_fd=state)
    except FileNotFoundError:
        pass
    except OSError as exc:
        if exc.errno not in (errno.ELOOP, errno.ENOTDIR):
            raise
        _remove(name, state)
    if not create:
        raise FileNotFoundError(name)
    os.mkdir(name, 0o700, dir_fd=state)
    return os.open(name, _DIR, dir_fd=state)


# -- the journal -------------------------------------------------------------------------------
# One operation per list, applied in order, undone in reverse; every undo can run twice.
#   ["mkdir", path]                a folder made for new files
#   ["put", staged, path, backup]  staged file moved to path; the old one to backup (or null)
#   ["del", path, backup]          the old file moved to backup
#   ["rmdir", path]                a folder emptied by the removals
#   ["host", staged, name]         a new host folder, staged whole, moved into place
#   ["drop", name, backup]         a host folder no longer built, moved to backup
# Paths are relative to the build directory; staged and backup names are plain names.

Op = list[Any]
_SHAPES = {"mkdir": ("path",), "put": ("scratch", "path", "backup"), "del": ("path", "scratch"),
           "rmdir": ("path",), "host": ("scratch", "name"), "drop": ("name", "scratch")}


def _parse_journal(raw: bytes | None, shown: str) -> list[Op]:
    """The journal's operations, each checked: a journal is untrusted input like any file."""
    bad = BootstrapError(f"{shown} is not a journal bootstrap wrote; restore the build "
                         "from a copy or remove the build directory and render again")
    try:
        ops = json.loads(raw or b"")["ops"]
    except (ValueError, KeyError, TypeError):
        raise bad from None
    if not isinstance(ops, list):
        raise bad
    for op in ops:
        if not isinstance(op, list) or not op or op[0] not in _SHAPES:
            raise bad
        shape = _SHAPES[op[0]]
        if len(op) != len(shape) + 1:
            raise bad
        for kind, value in zip(shape, op[1:], strict=True):
            if kind == "backup" and value is None:
                continue
            ok = isinstance(value, str) and (
                not path_problem(value) if kind == "path" else
                not name_problem(value) if kind == "name" else
                bool(_SCRATCH.fullmatch(value)))
            if not ok:
                raise bad
    return ops


def _visit(root: Tree, visiting: str, op: Op) -> str:
    """The top folder ``op`` works in; the folders of the one before are closed when it
    differs (operations come host by host)."""
    path = op[2] if op[0] in ("put", "host") else op[1]
    top = path.partition("/")[0]
    if top != visiting and visiting:
        root.forget(visiting)
    return top


def _undo(op: Op, root: Tree, stage: int, backup: int) -> None:
    kind = op[0]
    if kind == "mkdir":
        parent, name = root.locate(op[1])
        if parent is not None:
            with contextlib.suppress(FileNotFoundError, OSError):
                os.rmdir(name, dir_fd=parent)  # only when empty: then it was made by the render
            root.fds.pop(op[1], None)
    elif kind == "rmdir":
        root.folder(op[1], create=True)
    elif kind == "put":
        _, staged, path, old = op
        if old is not None:
            if _exists(old, backup):
                parent, name = root.locate(path, create=True)
                os.replace(old, name, src_dir_fd=backup, dst_dir_fd=parent)
            return
        parent, name = root.locate(path)
        if parent is not None and not _exists(staged, stage) and _is_file(name, parent):
            os.unlink(name, dir_fd=parent)  # it was new: nothing was there before
    elif kind == "del":
        _, path, old = op
        if _exists(old, backup):
            parent, name = root.locate(path, create=True)
            os.replace(old, name, src_dir_fd=backup, dst_dir_fd=parent)
    elif kind == "host":
        _, staged, name = op
        assert root.fds[""] is not None
        if not _exists(staged, stage) and _exists(name, root.fds[""]):
            os.rename(name, staged, src_dir_fd=root.fds[""], dst_dir_fd=stage)
    elif kind == "drop":
        _, name, old = op
        if _exists(old, backup):
            os.rename(old, name, src_dir_fd=backup, dst_dir_fd=root.fds[""])


class Transaction:
    """The changes of one render: staged, journaled, moved into place, committed."""

    def __init__(self, build: BuildDir) -> None:
        assert build.state is not None and build.root is not None
        self.build = build
        self.root = build.root
        self.ops: list[Op] = []
        self.stage = _scratch(build.state, STAGE, create=True)
        self.backup = _scratch(build.state, BACKUP, create=True)
        self.count = 0
        self.umask = current_umask()

    def scratch_name(self, prefix: str) -> str:
        self.count += 1
        return f"{prefix}{self.count}"

    def stage_file(self, content: bytes, mode: int) -> str:
        name = self.scratch_name("f")
        write_file(self.stage, name, content, mode, self.umask)
        return name

    def stage_folder(self) -> tuple[str, int]:
        """A new, empty folder in stage/ to write a whole new host folder into: its name and
        descriptor (the caller closes it)."""
        name = self.scratch_name("h")
        os.mkdir(name, dir_fd=self.stage)
        return name, os.open(name, _DIR, dir_fd=self.stage)

    def run(self) -> None:
        """Journal, move everything into place, commit, clean up."""
        assert self.build.state is not None
        state = self.build.state
        text = json.dumps({"ops": self.ops}, separators=(",", ":")).encode()
        new = JOURNAL + ".new"
        _remove(new, state)
        handle = os.open(new, _NEW, 0o600, dir_fd=state)
        try:
            os.write(handle, text)
            os.fsync(handle)
        finally:
            os.close(handle)
        os.rename(new, JOURNAL, src_dir_fd=state, dst_dir_fd=state)
        os.fsync(state)
        visiting = ""
        for op in self.ops:
            visiting = _visit(self.root, visiting, op)
            self._do(op)
        os.unlink(JOURNAL, dir_fd=state)  # the commit
        os.fsync(state)
        self.close()
        for name in (STAGE, BACKUP):
            _remove(name, state)

    def _do(self, op: Op) -> None:
        kind = op[0]
        root = self.root
        if kind == "mkdir":
            root.folder(op[1], create=True)
        elif kind == "put":
            _, staged, path, old = op
            parent, name = root.locate(path)
            assert parent is not None
            if old is not None:
                os.rename(name, old, src_dir_fd=parent, dst_dir_fd=self.backup)
            os.rename(staged, name, src_dir_fd=self.stage, dst_dir_fd=parent)
        elif kind == "del":
            _, path, old = op
            parent, name = root.locate(path)
            assert parent is not None
            os.rename(name, old, src_dir_fd=parent, dst_dir_fd=self.backup)
        elif kind == "rmdir":
            parent, name = root.locate(op[1])
            if parent is not None:
                with contextlib.suppress(OSError):  # not empty: it keeps other files
                    os.rmdir(name, dir_fd=parent)
                    root.fds.pop(op[1], None)
        elif kind == "host":
            _, staged, name = op
            os.rename(staged, name, src_dir_fd=self.stage, dst_dir_fd=root.fds[""])
        elif kind == "drop":
            _, name, old = op
            os.rename(name, old, src_dir_fd=root.fds[""], dst_dir_fd=self.backup)

    def close(self) -> None:
        for fd in (self.stage, self.backup):
            with contextlib.suppress(OSError):
                os.close(fd)
        self.stage = self.backup = -1

    def abandon(self) -> None:
        """Forget what was staged (a failure before the journal): the build is untouched."""
        self.close()
        if self.build.state is not None:
            for name in (STAGE, BACKUP):
                _remove(name, self.build.state)


def read_manifest(build: BuildDir, host: str, *, files: bool = False) -> dict[str, Any] | None:
    """The JSON object of :meth:`BuildDir.manifest`, for readers that still take it as a dict."""
    manifest = build.manifest(host, files=files)
    return None if manifest is None else manifest.raw
