"""Ansible's INI inventory format, read as ansible-core's ``ini`` inventory plugin reads it.

A file is read line by line, as if it began with ``[ungrouped]``:

- ``[name]`` lists hosts, one a line: a host pattern (``web[01:10]``, ``db:2222``) and then
  ``key=value`` pairs, split as a shell splits words (quotes keep spaces; ``#`` starts a
  comment);
- ``[name:vars]`` holds one ``key=value`` a line: everything after the first ``=`` is the value;
- ``[name:children]`` names child groups, one a line; a child may be declared further down, but
  must be declared somewhere in the file (by ``[child]`` or ``[child:children]``);
- blank lines and lines starting with ``#`` or ``;`` are skipped.

Values are typed as the plugin types them, in host lines and ``:vars`` sections alike: a value
that reads as a Python literal (``23``, ``1.5``, ``True``, ``None``, ``'quoted'``, ``[1, 2]``,
``{'a': 1}``) is that value, anything else is the text itself (``yes``, ``FALSE``, ``foo bar``).
Tuples and sets become lists, complex numbers and ``...`` stay text.

The parser only reads: it gives the steps (declare a group, list hosts, set a group variable,
link a child) in the order the plugin takes them, each with its line, and the inventory applies
them to the same model a YAML inventory builds.
"""

from __future__ import annotations

import ast
import re
import warnings
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bootstrap.errors import BootstrapError, Origin
from bootstrap.inventory import limits, vault
from bootstrap.inventory.yamlfile import KeyPath, YamlFile, _set_order, decrypt_file, read_file

if TYPE_CHECKING:
    from bootstrap.inventory.vaultpass import VaultKeys

_COMMENT = ("#", ";")
_SECTION = re.compile(r"^\[([^:\]\s]+)(?::(\w+))?\]\s*(?:\#.*)?$")
_GROUP_NAME = re.compile(r"^([^:\]\s]+)\s*(?:\#.*)?$")
_KINDS = ("hosts", "children", "vars")
# shlex's pieces of a word: plain characters (its whitespace is these four only), a quoted
# string, an escaped character; '#' starts a comment, even within a word.
_PIECE = re.compile(r"""([^ \t\r\n'"\\#]+)|'([^']*)'|"((?:[^"\\]|\\.)*)"|\\(.)|([ \t\r\n]+)|(#)""",
                    re.S)
_DQ_ESCAPE = re.compile(r"\\([\\\"])")
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")
_CONSTANTS = ("True", "False", "None")
_INT = re.compile(r"-?(?:0|[1-9][0-9]{0,17})\Z")  # what literal_eval reads as this int


@dataclass(frozen=True, slots=True)
class Declare:
    """A section header makes its group exist (Ansible's ``add_group``)."""

    group: str
    line: int


@dataclass(frozen=True, slots=True)
class Hosts:
    """A host line: the hosts of ``pattern`` join ``group`` and get ``vars``."""

    group: str
    pattern: str
    vars: dict[str, Any]
    line: int


@dataclass(frozen=True, slots=True)
class GroupVar:
    group: str
    key: str
    value: Any
    line: int


@dataclass(frozen=True, slots=True)
class Child:
    parent: str
    child: str
    line: int


Step = Declare | Hosts | GroupVar | Child


class IniFile(YamlFile):
    """An INI inventory file: its steps, and the origin of a key path ``(line, ...)``."""

    __slots__ = ("steps",)

    def __init__(self, path: Path, display: str, steps: list[Step]) -> None:
        super().__init__(path, display, None)
        self.steps = steps
        self.__dict__["marks"] = {}  # lines come from the key path itself, never from YAML

    def origin(self, keypath: KeyPath = ()) -> Origin:
        line = keypath[0] if keypath and isinstance(keypath[0], int) else 0
        return Origin(self.display, line)


@dataclass
class _Pending:
    """A ``:vars`` section or a child of a group not declared yet (the plugin's
    ``pending_declarations``): an error at the end unless the group is declared later."""

    kind: str
    line: int
    parents: list[str] = field(default_factory=list)


def load(path: Path, display: str, known_groups: Iterable[str], keys: VaultKeys | None = None,
         name: str | None = None) -> IniFile:
    """Parse the INI inventory at ``path``; ``known_groups`` are those earlier files defined.

    With vault ``keys``, a file encrypted whole is decrypted, and each of its values becomes a
    :class:`~bootstrap.inventory.vault.Vaulted` named ``name:GROUP.vars.KEY`` or
    ``name:GROUP.hosts.PATTERN.KEY`` (host and group names stay plain: they are names, and so
    do the values of :data:`~bootstrap.inventory.vault.PLAIN_KEYS`).
    """
    text = read_file(path, display)
    if keys is not None and vault.is_encrypted(text):
        text = decrypt_file(text, keys, display)
        loaded = load_text(text, path, display, known_groups)
        loaded.steps = [_sealed(step, name or display) for step in loaded.steps]
        return loaded
    return load_text(text, path, display, known_groups)


def _sealed(step: Step, name: str) -> Step:
    if isinstance(step, Hosts):
        where = f"{name}:{step.group}.hosts.{step.pattern}"
        return replace(step, vars={
            k: v if v is None or k in vault.PLAIN_KEYS else vault.Vaulted(f"{where}.{k}", v)
            for k, v in step.vars.items()})
    if isinstance(step, GroupVar) and step.value is not None and step.key not in vault.PLAIN_KEYS:
        return replace(step, value=vault.Vaulted(f"{name}:{step.group}.vars.{step.key}",
                                                 step.value))
    return step


def load_text(text: bytes, path: Path, display: str, known_groups: Iterable[str]) -> IniFile:
    # As the plugin decodes: bytes that are not UTF-8 survive as lone surrogates, which only a
    # comment line may hold (a host or a value cannot be written to a file or as JSON).
    lines = text.decode("utf-8", "surrogateescape").splitlines()
    return IniFile(path, display, _Parser(display, set(known_groups)).parse(lines))


class _Parser:
    def __init__(self, display: str, known: set[str]) -> None:
        self.display = display
        # The inventory starts with these two, as Ansible's does.
        self.known = known | {"all", "ungrouped"}
        self.pending: dict[str, _Pending] = {}
        self.steps: list[Step] = []
        self.line = 0

    def error(self, message: str, line: int | None = None) -> BootstrapError:
        return BootstrapError(message, origin=Origin(self.display, line or self.line))

    def parse(self, lines: list[str]) -> list[Step]:
        with warnings.catch_warnings():
            # What the compiler says of a value (an invalid escape in '\d') is no error here.
            warnings.simplefilter("ignore", SyntaxWarning)
            warnings.simplefilter("ignore", DeprecationWarning)
            return self._parse(lines)

    def _parse(self, lines: list[str]) -> list[Step]:
        self.count_entries(lines)
        group, kind = "ungrouped", "hosts"
        for number, raw in enumerate(lines, 1):
            self.line = number
            line = raw.strip()
            if not line or line[0] in _COMMENT:
                continue
            if _SURROGATE.search(line):
                raise self.error("not a UTF-8 text file: this line holds bytes that are not "
                                 "UTF-8")
            section = _SECTION.match(line)
            if section:
                group, kind = self.section(section.group(1), section.group(2))
            elif line.startswith("[") and line.endswith("]"):
                raise self.error(f"invalid section entry {line!r}: a section is [group], "
                                 "[group:vars] or [group:children], with no spaces")
            elif kind == "hosts":
                self.host_line(group, line)
            elif kind == "vars":
                self.var_line(group, line)
            else:
                self.child_line(group, line)
        for name, pending in self.pending.items():  # the plugin reports the first only
            if pending.kind == "vars":
                raise self.error(f"section [{name}:vars] is for a group that is not defined: "
                                 f"declare [{name}] or [{name}:children]", pending.line)
            raise self.error(f"section [{pending.parents[-1]}:children] names group {name!r}, "
                             f"which is not defined: declare [{name}]", pending.line)
        return self.steps

    def count_entries(self, lines: list[str]) -> None:
        entries = 0
        for number, raw in enumerate(lines, 1):
            line = raw.strip()
            if line and line[0] not in _COMMENT:
                entries += 1
                if entries > limits.INI_ENTRIES:
                    raise self.error(f"more than {limits.INI_ENTRIES:,} entries in one INI file "
                                     "(the limit); split it into several files", number)

    def section(self, name: str, kind: str | None) -> tuple[str, str]:
        kind = kind or "hosts"
        if kind not in _KINDS:
            raise self.error(f"section [{name}:{kind}] has unknown type {kind!r} (a section "
                             "is [group], [group:vars] or [group:children])")
        if name not in self.known:
            # [name:vars] alone does not define a group: the plugin creates it, then checks at
            # the end that a [name] or [name:children] section came too.
            if kind == "vars" and name not in self.pending:
                self.pending[name] = _Pending("vars", self.line)
            self.known.add(name)
            self.steps.append(Declare(name, self.line))
        pending = self.pending.get(name)
        if pending is not None and kind != "vars":
            if pending.kind == "children":
                self.link_pending(name)
            else:
                del self.pending[name]
        return name, kind

    def link_pending(self, name: str) -> None:
        """Link a group declared at last to the parents that named it earlier."""
        for parent in self.pending[name].parents:
            self.steps.append(Child(parent, name, self.pending[name].line))
            above = self.pending.get(parent)
            if above is not None and above.kind == "children":
                self.link_pending(parent)
        del self.pending[name]

    def host_line(self, group: str, line: str) -> None:
        try:
            tokens = split_words(line)
        except ValueError as exc:
            raise self.error(f"cannot split host line {line!r}: {exc}") from None
        if not tokens:
            return
        pattern = tokens[0]
        if pattern.strip().endswith(":"):
            # A port after the ':' would have been split off; a bare ':' is reserved for it.
            # Most often a YAML inventory in a file without a YAML extension: read as INI.
            raise self.error(f"host pattern {pattern!r} ends with ':', which is reserved for a "
                             "port (a YAML inventory needs a .yml, .yaml or .json extension)")
        if pattern.strip() == "---":
            raise self.error("host pattern '---' is the start of a YAML document: give a YAML "
                             "file a .yml or .yaml extension")
        variables: dict[str, Any] = {}
        for token in tokens[1:]:
            if "=" not in token:
                raise self.error(f"expected key=value after the host, found {token!r}")
            key, value = token.split("=", 1)
            variables[key] = self.value(value, key)
        self.steps.append(Hosts(group, pattern, variables, self.line))

    def var_line(self, group: str, line: str) -> None:
        if "=" not in line:
            raise self.error(f"expected key=value in section [{group}:vars], found {line!r}")
        key, value = (part.strip() for part in line.split("=", 1))
        self.steps.append(GroupVar(group, key, self.value(value, key), self.line))

    def child_line(self, group: str, line: str) -> None:
        match = _GROUP_NAME.match(line)
        if not match:
            raise self.error(f"expected a group name in section [{group}:children], found "
                             f"{line!r}")
        child = match.group(1)
        if child in self.known:
            self.steps.append(Child(group, child, self.line))
        elif child in self.pending:
            self.pending[child].parents.append(group)
        else:
            self.pending[child] = _Pending("children", self.line, [group])

    def value(self, text: str, key: str) -> Any:
        """The plugin's typing: a Python literal is that value, anything else the text."""
        if _NAME.match(text) and text not in _CONSTANTS:
            return text  # a name is no literal: spare the parser the most common value
        if _INT.match(text):
            return int(text)
        try:
            value = ast.literal_eval(text)
        except (ValueError, SyntaxError):
            return text
        except (RecursionError, MemoryError, TypeError) as exc:
            # Ansible fails on these too (an unhashable dict key, a literal too deep to read).
            raise BootstrapError(f"cannot read the value as a Python literal: {exc}",
                                 origin=Origin(self.display, self.line), key=key) from None
        try:
            return _coerce(value, 0)
        except _Refused as exc:
            raise BootstrapError(str(exc), origin=Origin(self.display, self.line),
                                 key=key) from None


def split_words(line: str) -> list[str]:
    """``shlex.split(line, comments=True)``, as the plugin splits a host line, a piece at a time
    rather than a character at a time (shlex's way, most of the cost of a large inventory)."""
    words: list[str] = []
    word: list[str] = []
    quoted = False  # an empty quoted string is a word, as in shlex
    pos = 0
    while pos < len(line):
        match = _PIECE.match(line, pos)
        if match is None:  # an unclosed quote, or a backslash at the end
            if line[pos] == "\\" or re.match(r'"(?:[^"\\]|\\.)*\\\Z', line[pos:]):
                raise ValueError("No escaped character")
            raise ValueError("No closing quotation")
        plain, single, double, escaped, space, comment = match.groups()
        pos = match.end()
        if space is not None or comment is not None:
            if word or quoted:
                words.append("".join(word))
            word, quoted = [], False
            if comment is not None:
                return words
            continue
        if plain is not None:
            word.append(plain)
        elif single is not None:
            word.append(single)
            quoted = True
        elif double is not None:
            # Within double quotes a backslash escapes only '"' and itself.
            word.append(_DQ_ESCAPE.sub(r"\1", double))
            quoted = True
        else:
            word.append(escaped)
    if word or quoted:
        words.append("".join(word))
    return words


class _Refused(Exception):
    pass


_SURROGATE = re.compile("[\ud800-\udfff]")


def _coerce(value: Any, depth: int) -> Any:
    """A literal as the plugin keeps it: lists for tuples and sets, text for what JSON lacks."""
    if depth > limits.DEPTH:
        raise _Refused(f"values nested more than {limits.DEPTH} levels deep (the limit)")
    if isinstance(value, bytes):
        try:
            value = value.decode("utf-8")
        except UnicodeDecodeError:
            raise _Refused(f"{value!r} has no UTF-8 form") from None
    if isinstance(value, str):
        if _SURROGATE.search(value):
            raise _Refused(f"{value!r} holds half of a UTF-16 pair: it has no UTF-8 form")
        return value
    if isinstance(value, list | tuple):
        return [_coerce(item, depth + 1) for item in value]
    if isinstance(value, set | frozenset):
        # Ansible lists a set in its iteration order, which for text changes from run to run;
        # sorted is one of the orders it may give, and the same every time.
        return [_coerce(item, depth + 1) for item in sorted(value, key=_set_order)]
    if isinstance(value, dict):
        return {_key(key, depth): _coerce(item, depth + 1) for key, item in value.items()}
    if value is ...:
        return "..."
    if isinstance(value, complex):
        return str(value)
    return value


def _key(key: Any, depth: int) -> Any:
    if isinstance(key, tuple | frozenset | complex) or key is ...:
        # No JSON form: Ansible cannot print such a key either.
        raise _Refused(f"a mapping key must be text, a number, a boolean or None, found {key!r}")
    return _coerce(key, depth + 1)
