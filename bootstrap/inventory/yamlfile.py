"""YAML files with lazy line numbers: parse fast with the C loader, find lines only when asked.

Provenance (which file:line set a value) is needed for errors and ``--explain``, rarely for a
render. Parsing with marks costs a second Python walk over every node, so a file is parsed plainly
first and re-composed for its marks only when a line is requested.

Files are read as Ansible reads them: as JSON first, then as YAML 1.1 (so ``1e3`` in a ``.json``
file is a number, as in Ansible, while in YAML it is a string). ``!unsafe`` marks a value Ansible
must not template; bootstrap never templates inventory values, so it loads as the plain value.

An inventory file (one loaded with vault passwords) may be encrypted whole with ansible-vault,
or hold ``!vault`` values: each decrypted value, or each leaf of a decrypted file, loads as a
:class:`~bootstrap.inventory.vault.Vaulted`, which prints as a placeholder, never its value.
Any other file refuses ``!vault``.
"""

from __future__ import annotations

import datetime
import errno
import inspect
import json
import os
import re
import stat
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from bootstrap.errors import BootstrapError, Origin
from bootstrap.inventory import limits, vault

if TYPE_CHECKING:
    from bootstrap.inventory.vaultpass import VaultKeys

try:
    _Base: type[yaml.SafeLoader] = yaml.CSafeLoader  # type: ignore[assignment]
except AttributeError:  # PyYAML built without libyaml
    _Base = yaml.SafeLoader

KeyPath = tuple[Any, ...]


class _Refused(yaml.MarkedYAMLError):
    """A YAML construct the inventory does not accept (the message says why, not 'malformed')."""


class _Loader(_Base):  # type: ignore[misc,valid-type]
    pass


def _unsafe(loader: yaml.SafeLoader, node: yaml.Node) -> Any:
    if isinstance(node, yaml.ScalarNode):
        return loader.construct_scalar(node)
    if isinstance(node, yaml.SequenceNode):
        return loader.construct_sequence(node, deep=True)
    return loader.construct_mapping(node, deep=True)  # type: ignore[arg-type]


def _vault(loader: yaml.SafeLoader, node: yaml.Node) -> Any:
    keys: VaultKeys | None = getattr(loader, "vault_keys", None)
    if getattr(loader, "marks_only", False):
        return None  # only the lines are wanted: no password, no decryption
    if keys is None:
        raise _Refused(problem="ansible-vault encrypted values are not read in this file; "
                       "use a secret reference {env: NAME} or {file: path}",
                       problem_mark=node.start_mark)
    if not isinstance(node, yaml.ScalarNode):
        raise _Refused(problem="!vault must tag the text ansible-vault encrypt_string printed, "
                       "not a mapping or a list", problem_mark=node.start_mark)
    try:
        plain = keys.decrypt(str(node.value).encode("utf-8", "surrogateescape")).decode()
    except vault.VaultError as exc:
        raise _Refused(problem=str(exc), problem_mark=node.start_mark) from None
    except UnicodeDecodeError:
        raise _Refused(problem="the decrypted !vault value is not UTF-8 text",
                       problem_mark=node.start_mark) from None
    # Named by its line for now; the file names it by its key path once loaded (_seal).
    return vault.Vaulted(str(node.start_mark.line + 1), plain)


_Loader.add_constructor("!unsafe", _unsafe)
_Loader.add_constructor("!vault", _vault)


def _checked(tag: str, construct: Any) -> Any:
    """A scalar constructor whose Python errors (``2001-13-45`` is no date, ``!!bool maybe``, an
    integer of 5,000 digits) become a YAML error at the scalar's line instead of a traceback."""
    short = tag.rsplit(":", 1)[-1]

    def checked(loader: yaml.SafeLoader, node: yaml.Node) -> Any:
        try:
            return construct(loader, node)
        except (ValueError, KeyError, AttributeError, TypeError, OverflowError) as exc:
            text = str(node.value)
            shown = repr(text if len(text) <= 40 else f"{text[:37]}...")
            reason = ""
            if "digits" in str(exc):
                reason = " (more than 4300 digits)"
            elif not isinstance(exc, KeyError | AttributeError):  # these say nothing more
                reason = f" ({exc})"
            raise _Refused(problem=f"{shown} is not a valid {short}{reason}; quote it to keep "
                           "it a string", problem_mark=node.start_mark) from None

    return checked


# Scalars only: the generator constructors (mappings, sequences) build their values lazily,
# after the call a wrapper could guard, and report their own errors with a line. Strings and
# nulls cannot fail, and strings are most of a file: they keep the plain constructor.
_NEVER_FAIL = {None, "tag:yaml.org,2002:str", "tag:yaml.org,2002:null"}
for _tag, _construct in list(yaml.SafeLoader.yaml_constructors.items()):
    if _tag not in _NEVER_FAIL and not inspect.isgeneratorfunction(_construct):
        _Loader.add_constructor(_tag, _checked(_tag, _construct))


def _set_order(value: Any) -> tuple[int, Any]:
    """Sort key for the members of a YAML set: by kind (null, numbers, text, dates, bytes), then
    by value (NaN after every number), so mixed sets sort without comparing across kinds."""
    if value is None:
        return (0, 0)
    if isinstance(value, bool | int | float):
        return (1, (0, value)) if value == value else (1, (1, 0))
    if isinstance(value, str):
        return (2, value)
    if isinstance(value, datetime.date):
        return (3, value.isoformat())
    if isinstance(value, bytes):
        return (4, value)
    return (5, repr(value))


def _set(loader: yaml.SafeLoader, node: yaml.Node) -> list[Any]:
    """``!!set`` loads as a sorted list. A Python set iterates in an order that changes with the
    interpreter's hash seed, which would make the build differ from run to run; Ansible prints
    a set as a list in that varying order, so sorted is one of the orders it may print."""
    return sorted(loader.construct_mapping(node), key=_set_order)  # type: ignore[arg-type]


_Loader.add_constructor("tag:yaml.org,2002:set", _set)


class YamlFile:
    """One parsed file: its data and, on demand, the line of every key and list item."""

    __slots__ = ("__dict__", "data", "display", "path")

    def __init__(self, path: Path, display: str, data: Any) -> None:
        self.path = path
        self.display = display
        self.data = data

    @classmethod
    def load(cls, path: Path, display: str | None = None, keys: VaultKeys | None = None,
             name: str | None = None) -> YamlFile:
        """Parse the file at ``path``. With vault ``keys``, a file encrypted whole is decrypted
        and ``!vault`` values are read; decrypted values are named ``name:key.path``."""
        shown = display or str(path)
        text = read_file(path, shown)
        if keys is not None and vault.is_encrypted(text):
            plain = decrypt_file(text, keys, shown)
            loaded = cls.load_text(plain, path, shown, keys)
            loaded.plaintext = plain
            loaded.data = _seal(loaded.data, name or shown, (), whole=True)
            return loaded
        loaded = cls.load_text(text, path, shown, keys)
        if keys is not None and (b"!vault" in text or b"__ansible_vault" in text):
            loaded.data = _seal(loaded.data, name or shown, (), whole=False)
        return loaded

    @classmethod
    def load_text(cls, text: bytes, path: Path, shown: str,
                  keys: VaultKeys | None = None) -> YamlFile:
        try:
            # Ansible's loader tries JSON first; YAML files fail on their first byte, cheaply.
            data = json.loads(text)
        except RecursionError:
            raise _deep_error(text, shown) from None
        except ValueError as exc:
            json_error = exc
        else:
            if _too_deep(data):
                raise _deep_error(text, shown)
            _refuse_lone_surrogates(text, data, shown)
            if keys is not None and b"__ansible_vault" in text:
                return cls(path, shown, _json_vaults(data, keys, cls(path, shown, data), ()))
            return cls(path, shown, data)
        try:
            data = _parse_yaml(text, keys)
        except yaml.MarkedYAMLError as exc:
            if path.suffix == ".json" and isinstance(json_error, json.JSONDecodeError):
                origin = Origin(shown, json_error.lineno, json_error.colno)
                raise BootstrapError(f"malformed JSON: {json_error.msg}", origin=origin) from None
            mark = exc.problem_mark or exc.context_mark
            origin = Origin(shown, mark.line + 1, mark.column + 1) if mark else Origin(shown)
            problem = exc.problem or exc.context or "parse error"
            cm = exc.context_mark
            if exc.problem and exc.context and cm and mark and cm.line != mark.line:
                # Where the broken part began, when that is another line.
                problem += f" ({exc.context} started at line {cm.line + 1}, column {cm.column + 1})"
            prefix = "" if isinstance(exc, _Refused) else "malformed YAML: "
            if "maximum nesting depth" in problem:  # libyaml's own bound, at 1,000 levels
                problem, prefix = _DEEP, ""
            elif problem == "found unhashable key":
                problem = "a list or a mapping cannot be a key"
            elif problem.startswith("could not determine a constructor for the tag "):
                problem = f"unknown tag {problem.rsplit(' ', 1)[-1]}: quote the value"
            raise BootstrapError(f"{prefix}{problem}", origin=origin) from None
        except yaml.reader.ReaderError as exc:
            line = text[: exc.position].count(b"\n") + 1
            found = f"byte {exc.character:#04x}" if exc.character is not None else "a byte"
            raise BootstrapError(f"not a UTF-8 text file: {found} at offset {exc.position}: "
                                 f"{exc.reason}", origin=Origin(shown, line)) from None
        except yaml.YAMLError as exc:
            problem = " ".join(str(exc).split())  # one line, whatever the parser's layout
            raise BootstrapError(f"malformed YAML: {problem}", origin=Origin(shown)) from None
        return cls(path, shown, data)

    @cached_property
    def marks(self) -> dict[KeyPath, int]:
        """Line (1-based) of each key path: mapping keys and sequence items, at every depth."""
        try:
            loader = _Loader(self.__dict__.get("plaintext") or read_file(self.path, self.display))
        except BootstrapError:  # changed since it loaded: lines unknown, the file still named
            return {}
        loader.marks_only = True
        try:
            node = loader.get_single_node()
            if node is None:
                return {}
            # Constructing flattens merge keys (<<) in place, so the walk sees the real pairs.
            loader.construct_document(node)
            out: dict[KeyPath, int] = {(): node.start_mark.line + 1}  # the document itself
            _walk(loader, node, (), out, set())
            return out
        except yaml.YAMLError:  # JSON that YAML 1.1 cannot read: lines unknown, the file still named
            return {}
        finally:
            loader.dispose()

    def origin(self, keypath: KeyPath = ()) -> Origin:
        """The file:line of ``keypath``, or of its closest ancestor that has a line."""
        marks = self.marks
        path = tuple(keypath)
        while path:
            line = marks.get(path)
            if line:
                return Origin(self.display, line)
            path = path[:-1]
        return Origin(self.display, marks.get((), 0))


def read_file(path: Path, shown: str) -> bytes:
    """The bytes of a regular file of at most ``limits.FILE_BYTES``.

    Opened without blocking and checked before reading: a FIFO would wait forever for a writer,
    a device could be read forever.
    """
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError as exc:
        raise BootstrapError(f"cannot read file: {_open_failure(path, exc)}",
                             origin=Origin(shown)) from None
    too_big = BootstrapError(f"file larger than the limit of {limits.FILE_BYTES // 2**20} MiB "
                             "(split it into several files)", origin=Origin(shown))
    try:
        info = os.fstat(fd)
        if stat.S_ISDIR(info.st_mode):
            raise BootstrapError("a folder where a file was expected", origin=Origin(shown))
        if not stat.S_ISREG(info.st_mode):
            raise BootstrapError("not a regular file (a FIFO, socket or device); give a file",
                                 origin=Origin(shown))
        if info.st_size > limits.FILE_BYTES:
            raise too_big
        chunks: list[bytes] = []
        left = limits.FILE_BYTES + 1  # the file may grow between the check and the read
        while left > 0:
            chunk = os.read(fd, min(left, 1 << 20))
            if not chunk:
                break
            chunks.append(chunk)
            left -= len(chunk)
    except OSError as exc:
        raise BootstrapError(f"cannot read file: {exc.strerror}", origin=Origin(shown)) from None
    finally:
        os.close(fd)
    if left <= 0:
        raise too_big
    return b"".join(chunks)


def _open_failure(path: Path, exc: OSError) -> str:
    if os.path.islink(path) and not os.path.exists(path):
        if exc.errno == errno.ELOOP:
            return "a loop of symbolic links"
        return f"a symbolic link to {os.readlink(path)!r}, which does not exist"
    return exc.strerror or str(exc)


_DEEP = f"values nested more than {limits.DEPTH} levels deep (the limit)"
_CONTAINERS = (dict, list, tuple)


def decrypt_file(text: bytes, keys: VaultKeys, shown: str) -> bytes:
    """The plaintext of a file encrypted whole; an error names the file (line 1: the header)."""
    try:
        return keys.decrypt(text)
    except vault.VaultError as exc:
        raise BootstrapError(str(exc), origin=Origin(shown, 1)) from None


def _json_vaults(data: Any, keys: VaultKeys, file: YamlFile, path: KeyPath) -> Any:
    """``data`` with each ``{"__ansible_vault": TEXT}`` decrypted, as Ansible's JSON decoder
    reads an encrypted value (and as ``ansible-inventory --list`` prints one)."""
    if isinstance(data, dict):
        text = data.get("__ansible_vault")
        if text is None:
            return {k: _json_vaults(v, keys, file, (*path, k)) for k, v in data.items()}
        if not isinstance(text, str):
            raise BootstrapError("__ansible_vault must hold the text ansible-vault printed",
                                 origin=file.origin(path))
        try:
            plain = keys.decrypt(text.encode("utf-8", "surrogateescape")).decode()
        except vault.VaultError as exc:
            raise BootstrapError(str(exc), origin=file.origin(path)) from None
        except UnicodeDecodeError:
            raise BootstrapError("the decrypted value is not UTF-8 text",
                                 origin=file.origin(path)) from None
        return vault.Vaulted(_dotted(path), plain)
    if isinstance(data, list):
        return [_json_vaults(v, keys, file, (*path, i)) for i, v in enumerate(data)]
    return data


def _seal(data: Any, name: str, path: KeyPath, *, whole: bool) -> Any:
    """``data`` with each decrypted value named after its key path; in a file decrypted
    ``whole``, every leaf but null becomes such a value (keys stay plain: they are names, and
    so do the values of :data:`~bootstrap.inventory.vault.PLAIN_KEYS`)."""
    if isinstance(data, vault.Vaulted):
        return vault.Vaulted(f"{name}:{_dotted(path)}", data.value)
    if isinstance(data, dict):
        return {k: _seal(v, name, (*path, k), whole=whole and k not in vault.PLAIN_KEYS)
                for k, v in data.items()}
    if isinstance(data, list):
        return [_seal(v, name, (*path, i), whole=whole) for i, v in enumerate(data)]
    if whole and data is not None:
        return vault.Vaulted(f"{name}:{_dotted(path)}", data)
    return data


def _dotted(path: KeyPath) -> str:
    return ".".join(str(p) for p in path) or "."


def _parse_yaml(text: bytes, keys: VaultKeys | None = None) -> Any:
    """YAML 1.1 with the C parser, bounded in depth and in what aliases expand to."""
    loader = _Loader(text)
    loader.vault_keys = keys
    try:
        node = loader.get_single_node()
        if node is None:
            return None
        if b"&" in text:
            # Anchors, so maybe aliases: an alias is shared when loaded, but whatever walks the
            # value later (printing, rendering) pays for every use. Bound that before building.
            _check_nodes(node)
            return loader.construct_document(node)
        try:
            data = loader.construct_document(node)
        except RecursionError:
            _check_nodes(node)  # raises at the line where the nesting goes too deep
            raise
        if _too_deep(data):
            _check_nodes(node)
        return data
    finally:
        loader.dispose()


def _too_deep(data: Any) -> bool:
    """Whether mappings and lists nest more than ``limits.DEPTH`` levels (level by level, no
    recursion; only called on values without aliases, which are trees)."""
    level = [data] if isinstance(data, _CONTAINERS) else []
    for _ in range(limits.DEPTH):
        below: list[Any] = []
        for value in level:
            items = value.values() if isinstance(value, dict) else value
            below.extend(item for item in items if isinstance(item, _CONTAINERS))
        if not below:
            return False
        level = below
    return True


# A JSON escape of a UTF-16 surrogate, with the low half that makes it a pair when there is one.
_SURROGATE_ESCAPE = re.compile(rb"\\u[dD]([89a-fA-F])[0-9a-fA-F]{2}(\\u[dD][c-fC-F][0-9a-fA-F]{2})?")


def _refuse_lone_surrogates(text: bytes, data: Any, shown: str) -> None:
    """JSON can escape half of a UTF-16 pair (``"\\ud800"``): a string no UTF-8 file can hold.
    Ansible then reads the file as YAML, which refuses the escape; so does this."""
    if not _SURROGATE_ESCAPE.search(text):
        return
    stack = [data]
    while stack:
        value = stack.pop()
        if isinstance(value, dict):
            stack.extend(value.keys())
            stack.extend(value.values())
        elif isinstance(value, list):
            stack.extend(value)
        elif isinstance(value, str) and any(0xD800 <= ord(c) <= 0xDFFF for c in value):
            lone = (m for m in _SURROGATE_ESCAPE.finditer(text)
                    if m[1] not in b"89abAB" or m[2] is None)
            first = next(lone, None)
            line = text[: first.start()].count(b"\n") + 1 if first else 0
            raise BootstrapError("a lone UTF-16 surrogate (an escape such as \\ud800 without its "
                                 "pair) has no UTF-8 form; write the character itself",
                                 origin=Origin(shown, line))


def _check_nodes(root: yaml.Node) -> None:
    """Refuse a document that nests too deep, contains itself, or whose aliases stand for too
    many values; each node is visited once, however often aliases use it."""
    size: dict[int, int] = {}  # node -> values it stands for, every alias use counted
    height: dict[int, int] = {}  # node -> levels of mappings and lists from it down
    open_nodes: set[int] = set()  # the nodes on the path being walked
    stack: list[tuple[yaml.Node, bool]] = [(root, False)]
    while stack:
        node, finished = stack.pop()
        key = id(node)
        if finished:
            open_nodes.discard(key)
            children = _children(node)
            size[key] = 1 + sum(size[id(c)] for c in children)
            height[key] = (1 + max((height[id(c)] for c in children), default=0)
                           if isinstance(node, yaml.CollectionNode) else 0)
            # size - len(size) is at most what aliases added below this node.
            if size[key] - len(size) > limits.ALIAS_VALUES:
                raise _Refused(problem=f"aliases make this value stand for more than "
                               f"{limits.ALIAS_VALUES:,} values (the limit)",
                               problem_mark=node.start_mark)
            continue
        if key in size:
            continue
        if key in open_nodes:
            raise _Refused(problem="an alias refers to a value that contains it",
                           problem_mark=node.start_mark)
        open_nodes.add(key)
        stack.append((node, True))
        stack.extend((child, False) for child in _children(node) if id(child) not in size)
    if height[id(root)] > limits.DEPTH:
        raise _Refused(problem=_DEEP, problem_mark=_first_too_deep(root, height).start_mark)


def _first_too_deep(root: yaml.Node, height: dict[int, int]) -> yaml.Node:
    """The first mapping or list one level deeper than the limit, on a deepest path."""
    node = root
    for _ in range(limits.DEPTH):
        node = next(c for c in _children(node) if height[id(c)] == height[id(node)] - 1)
    return node


def _children(node: yaml.Node) -> list[yaml.Node]:
    if isinstance(node, yaml.MappingNode):
        return [item for pair in node.value for item in pair]
    if isinstance(node, yaml.SequenceNode):
        return list(node.value)
    return []


def _deep_error(text: bytes, shown: str) -> BootstrapError:
    """The too-deep error for a file read as JSON, at its line when YAML can find it."""
    loader = _Loader(text)
    try:
        node = loader.get_single_node()
        if node is not None:
            _check_nodes(node)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark
        if mark is not None:
            return BootstrapError(_DEEP, origin=Origin(shown, mark.line + 1, mark.column + 1))
    except yaml.YAMLError:
        pass
    finally:
        loader.dispose()
    return BootstrapError(_DEEP, origin=Origin(shown))


def _walk(
    loader: yaml.SafeLoader, node: yaml.Node, path: KeyPath, out: dict[KeyPath, int], seen: set[int]
) -> None:
    if id(node) in seen:  # aliases: one walk per node is enough
        return
    if isinstance(node, yaml.MappingNode):
        seen.add(id(node))
        for key_node, value_node in node.value:
            try:
                key = loader.construct_object(key_node, deep=True)
            except yaml.YAMLError:
                continue
            if isinstance(key, list | dict):
                continue
            sub = (*path, key)
            out[sub] = key_node.start_mark.line + 1  # a duplicate key: the later one wins
            _walk(loader, value_node, sub, out, seen)
    elif isinstance(node, yaml.SequenceNode):
        seen.add(id(node))
        for index, item in enumerate(node.value):
            sub = (*path, index)
            out[sub] = item.start_mark.line + 1
            _walk(loader, item, sub, out, seen)


def json_key(key: Any) -> str:
    """The name a YAML mapping key gets in JSON, as Ansible prints it (``yes:`` → "true")."""
    if isinstance(key, str):
        return key
    if key is None or isinstance(key, bool | int | float):
        return json.dumps(key)
    return str(key)


def dump(data: Any) -> str:
    """Block-style YAML with keys in the given order, as people write inventories."""
    return yaml.safe_dump(data, sort_keys=False, default_flow_style=False, allow_unicode=True)
