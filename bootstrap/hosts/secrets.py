"""Secret references (``{env: NAME}``, ``{file: path}``), their resolution, and redaction.

A reference stays a reference everywhere (inventory output, errors, logs, diffs) and prints as
``<secret:env:NAME>``. It yields its value only while a template renders inside a
:func:`revealing` block, which records that a secret reached the output so the build flags the
file as secret. The redacted copy of such a file (for diffs) is not made by searching the
output for the secret's text, which would give away a one-character secret or a secret equal
to another value of the file; the template is rendered a second time inside
:func:`placeholders`, where every reference prints its placeholder, so the copy depends on the
template and the non-secret values only.

A value decrypted from Ansible Vault (an inline ``!vault`` value, or a leaf of a file encrypted
whole; see :mod:`bootstrap.inventory.vault`) is bound to a reference of kind ``vault`` that
holds its plaintext, and from then on is treated as any other reference:
``<secret:vault:FILE:KEY.PATH>``, the file and key path it was encrypted at.

``{ssm: NAME}`` and ``{secretsmanager: ID}`` (with ``key: FIELD`` for a field of the secret's
JSON, and ``region:`` for either) are read from AWS when revealed, once per run; see
:mod:`bootstrap.hosts.secret_stores`. They print as ``<secret:ssm:NAME>`` and
``<secret:secretsmanager:ID>`` (``ID#FIELD`` with a key).

``{file: X}`` resolves beneath the inventory folder or a folder named with ``--secrets-dir``
(:data:`SecretRef.roots`), never elsewhere: X must be relative and free of ``..``, and every
component is opened relative to its parent's descriptor without following links. A symbolic
link met on the way is followed only while it stays beneath the same folder (the rule of
``openat2(RESOLVE_BENEATH)``): a ``current.key -> 2026-11.key`` link for key rotation works,
while a link to ``/etc/shadow`` or ``../..`` is refused. The link cannot reach anything the
folder does not already hold, so allowing it costs nothing.
"""

from __future__ import annotations

import contextvars
import errno
import os
import re
import stat
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

from bootstrap.errors import BootstrapError, Origin
from bootstrap.hosts import secret_stores
from bootstrap.inventory.cache import add_refresh_option
from bootstrap.inventory.vault import Vaulted
from bootstrap.inventory.vaultpass import VaultKeys

KINDS = ("env", "file", "ssm", "secretsmanager")
# The keys a reference mapping may hold beside its kind.
OPTIONS: dict[str, tuple[str, ...]] = {"ssm": ("region",), "secretsmanager": ("key", "region")}
# Beside an AWS kind, any of these makes the mapping a reference, to be refused when malformed
# rather than taken for a plain mapping that happens to have an "ssm" key.
_OPTION_WORDS = frozenset({"key", "region", "field"})
REGION = re.compile(r"[a-z]{2}(-[a-z0-9]+)+-[0-9]+")
# A secret is a password, a token or a key: a PEM private key is a few KB. Anything this big is
# a mistake, and reading it whole would make the render as big.
MAX_SECRET_BYTES = 1 << 20
# Links followed while resolving one reference (Linux's own limit for a path).
MAX_LINKS = 40


@dataclass(slots=True)
class Revealed:
    """What one render revealed: the placeholders of the secrets that reached the output."""

    labels: set[str] = field(default_factory=set)

    def __bool__(self) -> bool:
        return bool(self.labels)


# The rendering mode: revealing (a Revealed record), placeholders (True), or neither (None).
_mode: contextvars.ContextVar[Revealed | bool | None] = contextvars.ContextVar(
    "bootstrap_secret_mode", default=None
)
# The placeholders of AWS-held references not read inside withholding(), else None.
_withheld: contextvars.ContextVar[set[str] | None] = contextvars.ContextVar(
    "bootstrap_secret_withheld", default=None
)
# Where a reference without folders of its own resolves while revealing.
_fallback: contextvars.ContextVar[Path | None] = contextvars.ContextVar(
    "bootstrap_secret_basedir", default=None
)


def revealing(basedir: Path | None = None) -> _Revealing:
    """Within this block, references resolve to their values (``basedir`` is where a reference
    made without folders of its own resolves)."""
    return _Revealing(basedir)


class _Revealing:
    """The block of :func:`revealing`: a plain class, not a generator, as every file of every
    host renders inside one."""

    __slots__ = ("basedir", "record", "tokens")

    def __init__(self, basedir: Path | None) -> None:
        self.basedir = basedir
        self.record = Revealed()
        self.tokens: tuple[contextvars.Token[Any], contextvars.Token[Any]] | None = None

    def __enter__(self) -> Revealed:
        self.tokens = (_mode.set(self.record), _fallback.set(self.basedir))
        return self.record

    def __exit__(self, *exc: object) -> None:
        assert self.tokens is not None
        mode, fallback = self.tokens
        _mode.reset(mode)
        _fallback.reset(fallback)


@contextmanager
def placeholders() -> Iterator[None]:
    """Within this block, references and the escaping filters print placeholders only."""
    token = _mode.set(True)
    try:
        yield
    finally:
        _mode.reset(token)


@contextmanager
def withholding(active: bool = True) -> Iterator[set[str]]:
    """Within this block (when ``active``) a reference held in AWS is not read: revealing it
    gives its placeholder, still counted as a secret, and recorded in the set yielded. A dry
    run asks AWS nothing, not even for secrets."""
    labels: set[str] = set()
    if not active:
        yield labels
        return
    token = _withheld.set(labels)
    try:
        yield labels
    finally:
        _withheld.reset(token)


def withholding_active() -> bool:
    return _withheld.get() is not None


def showing_placeholders() -> bool:
    return _mode.get() is True


def revealed_any() -> bool:
    """Whether the render under way has put a secret in its output yet: then a value it
    computes may hold the secret, and an error must not quote it."""
    active = _mode.get()
    return isinstance(active, Revealed) and bool(active)


@dataclass(frozen=True, slots=True)
class SecretRef:
    """A reference to a secret. ``str()`` is the placeholder unless inside :func:`revealing`."""

    kind: str
    name: str
    host: str = field(default="", compare=False)
    key: str = field(default="", compare=False)
    # Called only when an error must name the file:line (finding lines costs a re-parse).
    locate: Callable[[], Origin] | None = field(default=None, compare=False, repr=False)
    # Folders a file reference may resolve beneath, in the order they are searched.
    roots: tuple[Path, ...] = field(default=(), compare=False, repr=False)
    # The decrypted value of a "vault" secret (its name says where it was encrypted).
    sealed: Vaulted | None = field(default=None, compare=False, repr=False)
    # For the AWS kinds: the region to ask ("" for boto3's own) and the JSON field to take.
    region: str = ""
    json_key: str = ""

    @property
    def label(self) -> str:
        return _label(self.kind, self.name, self.json_key)

    def __repr__(self) -> str:
        return self.label

    def __str__(self) -> str:
        active = _mode.get()
        if not isinstance(active, Revealed):
            return self.label
        value = self.reveal(_fallback.get())
        active.labels.add(self.label)
        return value

    def reveal(self, basedir: Path | None = None) -> str:
        """The secret's value; a missing or refused secret is an error naming the host and key.

        A file reference resolves beneath its own :attr:`roots`, or ``basedir`` when it has none.
        """
        if self.kind == "vault" and self.sealed is not None:
            return str(self.sealed.value)
        if self.kind in OPTIONS:
            withheld = _withheld.get()
            if withheld is not None:
                withheld.add(self.label)
                return self.label
            try:
                value = secret_stores.fetch(self.kind, self.name, self.region, self.json_key)
            except secret_stores.SecretStoreError as exc:
                raise self._error(f"secret {self.label}: {exc}") from None
            if not value:
                raise self._error(f"secret {self.label}: the value is empty")
            return value
        if self.kind == "env":
            value = os.environ.get(self.name)
            if not value:
                state = "is not set" if value is None else "is empty"
                raise self._error(f"secret {self.label}: environment variable {self.name} {state}")
            return value
        roots = self.roots or ((basedir,) if basedir is not None else ())
        try:
            value = read_secret_file(self.name, roots)
        except SecretFileError as exc:
            raise self._error(f"secret {self.label}: {exc}") from None
        if not value:
            raise self._error(f"secret {self.label}: the file is empty")
        return value

    def _error(self, message: str) -> BootstrapError:
        return BootstrapError(message, origin=self.locate() if self.locate else None,
                              host=self.host or None, key=self.key or None)


# -- reading a secret file beneath a folder -------------------------------------------------------


class SecretFileError(Exception):
    """Why a ``{file: ...}`` reference cannot be read; the message never holds the content."""


# Resolved files, per (roots, name): a fleet of hosts shares a handful of secrets.
_cache: dict[tuple[tuple[Path, ...], str], str] = {}


def read_secret_file(name: str, roots: Sequence[Path]) -> str:
    """The text of ``name`` beneath the first of ``roots`` that holds it."""
    parts = _parts(name)
    key = (tuple(roots), name)
    if key in _cache:
        return _cache[key]
    if not roots:
        raise SecretFileError("no folder to look for it in")
    for root in roots:
        data = _read_beneath(Path(root), parts)
        if data is not None:
            text = _decode(data)
            _cache[key] = text
            return text
    where = " or ".join(str(r) for r in roots)
    raise SecretFileError(f"no such file in {where}")


def _parts(name: str) -> list[str]:
    if "\x00" in name:
        raise SecretFileError("the path holds a NUL byte")
    path = PurePosixPath(name)
    if path.is_absolute() or name.startswith("~"):
        raise SecretFileError("an absolute path (or one from ~) is refused: give a path "
                              "relative to the inventory folder (or a --secrets-dir)")
    parts = [p for p in path.parts if p != "."]
    if ".." in parts:
        raise SecretFileError("a path with '..' is refused: it must stay inside its folder")
    if not parts:
        raise SecretFileError("the path names no file")
    return parts


def _read_beneath(root: Path, parts: list[str]) -> bytes | None:
    """The bytes of ``parts`` beneath ``root``, None when it does not exist there."""
    try:
        root_fd = os.open(root, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    except OSError as exc:
        raise SecretFileError(f"cannot open the folder {root}: {exc.strerror}") from None
    stack = [root_fd]  # descriptors of the folders walked, the root first
    try:
        return _walk(stack, list(parts), root)
    finally:
        for fd in stack:
            os.close(fd)


def _walk(stack: list[int], todo: list[str], root: Path) -> bytes | None:
    links = 0
    while todo:
        part = todo.pop(0)
        if part in ("", "."):
            continue
        if part == "..":  # only from a link's target: it may climb back up to the root
            if len(stack) == 1:
                raise SecretFileError(f"a symbolic link leads outside {root}: refused")
            os.close(stack.pop())
            continue
        try:
            info = os.stat(part, dir_fd=stack[-1], follow_symlinks=False)
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise SecretFileError(f"cannot read it in {root}: {exc.strerror}") from None
        if stat.S_ISLNK(info.st_mode):
            links += 1
            try:
                target = os.readlink(part, dir_fd=stack[-1])
            except OSError as exc:
                raise SecretFileError(f"cannot read it in {root}: {exc.strerror}") from None
            if target.startswith("/") or links > MAX_LINKS:
                why = "an absolute target" if links <= MAX_LINKS else "too many links"
                raise SecretFileError(f"a symbolic link leads outside {root} ({why}): refused")
            todo[:0] = target.split("/")
            continue
        if todo:
            if not stat.S_ISDIR(info.st_mode):
                raise SecretFileError(f"cannot read it in {root}: {part} is not a folder")
            stack.append(_open(part, stack[-1], os.O_DIRECTORY, root))
            continue
        _check_kind(info.st_mode, info.st_size)
        return _read(_open(part, stack[-1], 0, root))
    raise SecretFileError("it is a folder, not a regular file")


def _open(part: str, dir_fd: int, flags: int, root: Path) -> int:
    # O_NOFOLLOW: a link swapped in after the stat fails here instead of being followed;
    # O_NONBLOCK: a FIFO swapped in does not block the open.
    try:
        return os.open(part, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC | flags,
                       dir_fd=dir_fd)
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise SecretFileError(f"{part} became a symbolic link while it was read: "
                                  "refused") from None
        raise SecretFileError(f"cannot read it in {root}: {exc.strerror}") from None


def _check_kind(mode: int, size: int) -> None:
    kinds = ((stat.S_ISDIR, "a folder"), (stat.S_ISFIFO, "a FIFO"), (stat.S_ISSOCK, "a socket"),
             (stat.S_ISCHR, "a character device"), (stat.S_ISBLK, "a block device"))
    for test, kind in kinds:
        if test(mode):
            raise SecretFileError(f"it is {kind}, not a regular file")
    if not stat.S_ISREG(mode):
        raise SecretFileError("it is not a regular file")
    if size > MAX_SECRET_BYTES:
        raise SecretFileError(f"it is {size} bytes, over the limit of {MAX_SECRET_BYTES} bytes "
                              "for a secret file")


def _read(fd: int) -> bytes:
    try:
        info = os.fstat(fd)
        _check_kind(info.st_mode, info.st_size)  # what was opened, not what was stat'ed
        chunks = []
        left = MAX_SECRET_BYTES + 1
        while left > 0 and (chunk := os.read(fd, min(left, 65536))):
            chunks.append(chunk)
            left -= len(chunk)
    except OSError as exc:
        raise SecretFileError(f"cannot read it: {exc.strerror}") from None
    finally:
        os.close(fd)
    data = b"".join(chunks)
    if len(data) > MAX_SECRET_BYTES:
        raise SecretFileError(f"it is over the limit of {MAX_SECRET_BYTES} bytes for a secret "
                              "file")
    return data


def _decode(data: bytes) -> str:
    try:
        text = data.decode()
    except UnicodeDecodeError:
        raise SecretFileError("it is not UTF-8 text") from None
    # Key files end with one newline that is not part of a password; PEM keeps its own.
    return text if text.startswith("-----BEGIN") else text.rstrip("\n")


def add_secrets_dir_option(parser: Any) -> None:
    """``--secrets-dir DIR`` (repeatable), for every command that reads secrets."""
    parser.add_argument("--secrets-dir", dest="secrets_dir", action="append", type=_folder,
                        default=[], metavar="DIR",
                        help="also resolve {file: ...} secret references beneath DIR (after the "
                             "inventory folder; may be given more than once)")


def add_vault_options(parser: Any) -> None:
    """``--vault-password-file FILE`` and ``--vault-id [LABEL@]FILE`` (repeatable), for every
    command that reads an inventory; :func:`vault_keys` gives the passwords they name."""
    parser.add_argument("--vault-id", dest="vault_ids", action="append", default=[],
                        metavar="[LABEL@]FILE",
                        help="a vault password for vault id LABEL (default: 'default') in FILE, "
                             "or printed by FILE when it is executable (may be given more than "
                             "once)")
    parser.add_argument("--vault-password-file", dest="vault_password_files", action="append",
                        default=[], metavar="FILE",
                        help="a vault password in FILE, or printed by FILE when it is "
                             "executable (may be given more than once; also "
                             "ANSIBLE_VAULT_PASSWORD_FILE)")
    add_refresh_option(parser)  # every command that reads an inventory


def vault_keys(args: Any) -> VaultKeys:
    """The vault passwords a command line names (and ANSIBLE_VAULT_PASSWORD_FILE)."""
    return VaultKeys.from_options(getattr(args, "vault_ids", None) or (),
                                  getattr(args, "vault_password_files", None) or ())


def _folder(text: str) -> Path:
    import argparse

    path = Path(text)
    if not path.is_dir():
        raise argparse.ArgumentTypeError(f"{text}: not a folder")
    return path


# -- references in values ---------------------------------------------------------------------


def _label(kind: str, name: str, json_key: str = "") -> str:
    return f"<secret:{kind}:{name}#{json_key}>" if json_key else f"<secret:{kind}:{name}>"


def reference_parts(value: Any) -> tuple[str, str, dict[str, str]] | None:
    """``(kind, name, options)`` of a well-formed reference mapping, else None."""
    if not isinstance(value, dict) or not value:
        return None
    kinds = [k for k in value if k in KINDS and isinstance(value[k], str)]
    if len(kinds) != 1:
        return None
    kind = kinds[0]
    options = {k: v for k, v in value.items() if k != kind}
    allowed = OPTIONS.get(kind, ())
    if any(k not in allowed or not isinstance(v, str) for k, v in options.items()):
        return None
    return kind, value[kind], options


def is_reference(value: Any) -> bool:
    return reference_parts(value) is not None


def _looks_like_reference(value: Any) -> bool:
    """A mapping meant as an AWS reference, well-formed or not (see :data:`_OPTION_WORDS`)."""
    if not isinstance(value, dict):
        return False
    aws = [k for k in OPTIONS if isinstance(value.get(k), str)]
    return len(aws) == 1 and (len(value) == 1 or any(k in _OPTION_WORDS for k in value))


def _reference_problem(kind: str, name: str, options: dict[str, Any]) -> str | None:
    """What is wrong with an AWS reference mapping, None when nothing is."""
    allowed = OPTIONS[kind]
    shown = " and ".join(f"{o}:" for o in allowed)
    for option, given in options.items():
        if option not in allowed:
            return f"a {{{kind}: ...}} reference takes only {shown} beside it, not {option}:"
        if not isinstance(given, str) or not given.strip():
            return f"{option}: of a {{{kind}: ...}} reference must be a non-empty string"
    if not name.strip():
        return f"a {{{kind}: ...}} reference must name a {'parameter' if kind == 'ssm' else 'secret'}"
    region = options.get("region")
    if region is not None and not REGION.fullmatch(region):
        return f"region: of a {{{kind}: ...}} reference is not an AWS region name"
    return None


def bind(value: Any, host: str, key: str, origin: Callable[[tuple[Any, ...]], Origin],
         path: tuple[Any, ...] = (), roots: tuple[Path, ...] = ()) -> Any:
    """Replace every ``{env: X}``/``{file: p}`` mapping in ``value`` by a :class:`SecretRef`
    whose file resolves beneath ``roots``, and every value decrypted from vault by one too."""
    if isinstance(value, Vaulted):
        dotted = ".".join([key, *(str(p) for p in path)])
        return SecretRef("vault", value.name, host, dotted, lambda: origin(path), sealed=value)
    if isinstance(value, dict):
        parts = reference_parts(value)
        if parts is not None or _looks_like_reference(value):
            return _bound(value, parts, host, key, origin, path, roots)
        return {k: bind(v, host, key, origin, (*path, k), roots) for k, v in value.items()}
    if isinstance(value, list):
        return [bind(v, host, key, origin, (*path, i), roots) for i, v in enumerate(value)]
    return value


def _bound(value: dict[str, Any], parts: tuple[str, str, dict[str, str]] | None, host: str,
           key: str, origin: Callable[[tuple[Any, ...]], Origin], path: tuple[Any, ...],
           roots: tuple[Path, ...]) -> SecretRef:
    dotted = ".".join([key, *(str(p) for p in path)])
    if parts is None:  # an AWS kind with options it does not take
        kind = next(k for k in OPTIONS if isinstance(value.get(k), str))
        parts = (kind, value[kind], {k: v for k, v in value.items() if k != kind})
    kind, name, options = parts
    problem = _reference_problem(kind, name, options) if kind in OPTIONS else None
    if problem is not None:
        raise BootstrapError(problem, origin=origin(path), host=host, key=dotted)
    return SecretRef(kind, name, host, dotted, lambda: origin(path), roots,
                     region=options.get("region", ""), json_key=options.get("key", ""))


def contains_reference(value: Any) -> bool:
    if isinstance(value, Vaulted):
        return True
    if isinstance(value, dict):
        return (is_reference(value) or _looks_like_reference(value)
                or any(contains_reference(v) for v in value.values()))
    if isinstance(value, list):
        return any(contains_reference(v) for v in value)
    return False


def redacted(value: Any) -> Any:
    """A copy of ``value`` fit to print: references become their placeholders."""
    if isinstance(value, SecretRef | Vaulted):
        return value.label
    if isinstance(value, dict):
        parts = reference_parts(value)
        if parts is not None:
            kind, name, options = parts
            return _label(kind, name, options.get("key", ""))
        return {k: redacted(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [redacted(v) for v in value]
    return value


def secret_aware(escape: Callable[..., str], *, quoted: bool = False) -> Callable[..., str]:
    """Wrap an escaping filter for the placeholder render: a reference prints its placeholder,
    bare, or inside the filter's quotes when the filter ``quoted`` always adds them (so the
    copy does not depend on whether the secret needed quoting)."""

    def wrapper(value: Any, *args: Any, **kwargs: Any) -> str:
        if isinstance(value, SecretRef) and showing_placeholders() and not quoted:
            return value.label
        return escape(value, *args, **kwargs)

    wrapper.__name__ = escape.__name__
    wrapper.__doc__ = escape.__doc__
    return wrapper
