"""Which host names can be rendered: each host's files go in a folder named after it.

Ansible takes nearly any string as a host name (``a/b``, ``..``, a newline, 4,000 bytes); a build
cannot. A name is refused when, as a folder name, it would leave the build or hide in it, break a
file system's rules, or read differently from what it is:

- ``/`` and ``\\`` (a path separator, on Windows for the second), and the names ``.`` and ``..``;
- a leading ``.``: the build keeps its own state in hidden names (``.bootstrap/``, ``.redacted/``),
  and a hidden host folder is one a reader of the build misses;
- control characters (NUL, newline, tab, DEL, C1), Unicode format characters (invisible: zero
  width spaces, bidirectional overrides), line and paragraph separators, and lone surrogates
  (not encodable as a file name);
- more than ``limits.HOST_NAME_BYTES`` bytes in UTF-8 (the file name limit of Linux);
- names the tool gives a meaning: ``_fleet`` (the build's fleet-wide folder), ``all`` and
  ``ungrouped`` (Ansible's implicit groups).

Two names that differ only in case or Unicode normalisation (``Web1``/``web1``, ``é`` written
as one or two code points) would share a folder on a case-insensitive or normalising file
system (macOS, Windows, a Samba share); ``folder_key`` is what such a file system compares.
"""

from __future__ import annotations

import re
import unicodedata

from bootstrap.inventory import limits

# The build's folder for fleet-wide files (bootstrap.build.planner.FLEET); compared by folder_key, since
# '_FLEET' is the same folder on a case-insensitive file system.
FLEET_FOLDER = "_fleet"
_GROUPS = {
    "all": "the group of every host",
    "ungrouped": "the group of hosts in no other group",
}
_ASCII_BAD = re.compile(r"[\x00-\x1f\x7f/\\]")
_REFUSED_CATEGORIES = {
    "Cc": "a control character",
    "Cf": "an invisible formatting character",
    "Cs": "a lone surrogate",
    "Zl": "a line separator",
    "Zp": "a paragraph separator",
}


def problem(name: str) -> str:
    """Why ``name`` cannot be a host of a build ('' when it can)."""
    bad = _bad_character(name)
    if bad:
        return f"contains {bad}"
    if name in (".", ".."):
        return "would name the build folder or its parent, not a folder of its own"
    if name.startswith("."):
        return ("starts with '.': the build keeps its own files under hidden names, and a hidden "
                "host folder is easy to miss")
    if name in _GROUPS:
        return f"is reserved: Ansible's name for {_GROUPS[name]}"
    if folder_key(name) == FLEET_FOLDER:
        return f"is reserved: the build keeps fleet-wide files (IAM policies) in {FLEET_FOLDER}/"
    size = len(name.encode())
    if size > limits.HOST_NAME_BYTES:
        return (f"is {size} bytes long in UTF-8, more than the {limits.HOST_NAME_BYTES} a folder "
                "name can have")
    return ""


def _bad_character(name: str) -> str:
    if name.isascii():
        found = _ASCII_BAD.search(name)
        return _describe(found.group()) if found else ""
    for char in name:
        if char in "/\\" or unicodedata.category(char) in _REFUSED_CATEGORIES:
            return _describe(char)
    return ""


def _describe(char: str) -> str:
    if char == "/":
        return "'/', a path separator"
    if char == "\\":
        return "'\\', a path separator on Windows"
    kind = _REFUSED_CATEGORIES[unicodedata.category(char)]
    return f"{kind} ({char!r}, U+{ord(char):04X})"


def folder_key(name: str) -> str:
    """What a case-insensitive, Unicode-normalising file system compares: NFKC, casefolded."""
    if name.isascii():
        lower = name.lower()
        # The name itself when already lower case: an inventory keeps one key per host, and a
        # copy of every name would cost as much memory again.
        return name if lower == name else lower
    return unicodedata.normalize("NFKC", unicodedata.normalize("NFKC", name).casefold())
