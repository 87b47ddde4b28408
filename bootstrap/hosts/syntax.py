"""The syntax of the system files host settings land in, as their own parsers read them.

Each check returns why a value would not come back from its consumer exactly as given (it would
split into more fields, start a comment, continue onto the next line, or mean something special
to the program reading it), or None. The settings models turn that reason into an error naming
the key; nothing here knows about keys or hosts.
"""

from __future__ import annotations

import base64
import binascii
import re
from typing import Any

from bootstrap.hosts.model import KeyProblem

# -- text that no file can hold ---------------------------------------------------------------


def lone_surrogate(value: Any, path: tuple[str | int, ...] = ()) -> tuple[str | int, ...] | None:
    """The key path of the first string holding half of a UTF-16 surrogate pair, or None.

    YAML and JSON escapes (``"\\ud800"``) can produce one; it has no UTF-8 form, so no file that
    holds it can be written, and Ruby and libyaml refuse to read its escaped form.
    """
    if isinstance(value, str):
        return path if any(0xD800 <= ord(c) <= 0xDFFF for c in value) else None
    if isinstance(value, dict):
        for key, item in value.items():
            found = lone_surrogate(key, path) or lone_surrogate(item, (*path, str(key)))
            if found is not None:
                return found
    elif isinstance(value, list | tuple):
        for index, item in enumerate(value):
            found = lone_surrogate(item, (*path, index))
            if found is not None:
                return found
    return None


def refuse_lone_surrogates(value: Any) -> Any:
    """A before-validator for a whole namespace: no value of it may hold a lone surrogate."""
    path = lone_surrogate(value)
    if path is not None:
        raise KeyProblem("holds a lone UTF-16 surrogate (an escape such as \\ud800 without its "
                         "pair), which no file can store; write the character itself", *path)
    return value


def control_characters(value: str) -> str:
    """The control characters of ``value`` (C0, DEL, C1), shown as escapes, or ''."""
    found = sorted({c for c in value if ord(c) < 0x20 or 0x7F <= ord(c) <= 0x9F})
    return ", ".join(repr(c) for c in found)


# -- fstab (libmount, util-linux) ---------------------------------------------------------------

# Where a mounted volume would hide the running system: the root, the API file systems and the
# folders the OS itself lives in (a mirror mounted there boots into an empty /etc or /usr).
SYSTEM_MOUNTS = ("/", "/bin", "/boot", "/dev", "/etc", "/lib", "/lib32", "/lib64", "/libx32",
                 "/proc", "/root", "/run", "/sbin", "/sys", "/tmp", "/usr", "/var", "/var/lib",
                 "/var/log")
API_FILESYSTEMS = ("/proc", "/sys", "/dev", "/run")


def fstab_field(value: str) -> str | None:
    """Why ``value`` cannot be one field of an fstab line, or None.

    libmount splits a line at blanks and reads ``\\NNN`` octal escapes and a leading ``#``;
    cloud-init writes the fields joined by tabs, unescaped. So a field holds no blank, no
    backslash, no ``#`` and no control character.
    """
    if not value:
        return "is empty"
    bad = sorted({c for c in value if c in " \t\\#" or c.isspace()})
    if bad:
        return (f"{value!r} holds {', '.join(repr(c) for c in bad)}, which fstab reads as a "
                f"field separator, an escape or a comment")
    controls = control_characters(value)
    if controls:
        return f"{value!r} holds control characters ({controls})"
    return None


def mount_point(value: str) -> str | None:
    """Why ``value`` is no mount point fstab and the system can take, or None."""
    problem = fstab_field(value)
    if problem:
        return problem
    if not value.startswith("/"):
        return f"{value!r} is not an absolute path"
    if value != "/" and (value.endswith("/") or any(p in ("", ".", "..")
                                                    for p in value[1:].split("/"))):
        return f"{value!r} is not a plain absolute path (no '.', '..', '//' or trailing '/')"
    if value in SYSTEM_MOUNTS or any(value.startswith(f"{api}/") for api in API_FILESYSTEMS):
        return f"{value!r} is where the operating system itself lives; mount the volume elsewhere"
    return None


# -- sudoers (sudo's own grammar, sudoers(5)) ---------------------------------------------------

# A user specification after the user name: Host_List = [(Runas)] [Tag:]... Cmnd_List, and more
# "Host_List = ..." parts joined by ':'. sudoers(5) wants '!', '=', ':', ',', '(', ')' and '\\'
# escaped inside a word, '#' starts a comment (or a uid) and a trailing '\\' continues the line
# onto the next user's rule; so words here are plain, and the rule is parsed, not pattern-matched.
_NAME = re.compile(r"!*\s*[A-Za-z0-9_.*?@%+-]+")
_COMMAND = re.compile(r"(?:ALL|sudoedit|[A-Z][A-Z0-9_]*|/[A-Za-z0-9_.*?/@+-]*)")
_ARGUMENT = re.compile(r"[A-Za-z0-9_.*?/@%+-]+")
_TAG = re.compile(r"\s*(?:NO)?(?:PASSWD|EXEC|SETENV|LOG_INPUT|LOG_OUTPUT|MAIL|FOLLOW|INTERCEPT)"
                  r"\s*:")
SUDO_RULE_MAX = 1024


def _names(text: str, *, empty: bool = False) -> bool:
    items = [i.strip() for i in text.split(",")]
    if items == [""]:
        return empty
    return all(_NAME.fullmatch(i) for i in items)


def _commands(text: str) -> bool:
    for item in text.split(","):
        item = item.strip()
        while item.startswith("!"):
            item = item[1:].lstrip()
        words = item.split()
        if not words or not _COMMAND.fullmatch(words[0]) \
                or not all(_ARGUMENT.fullmatch(w) for w in words[1:]):
            return False
    return True


def _spec(text: str) -> str | None:
    """Parse one 'Host_List = [(Runas)] [Tag:]... Cmnd_List'; return what follows it, or None."""
    hosts, equals, rest = text.partition("=")
    if not equals or not _names(hosts):
        return None
    rest = rest.lstrip()
    if rest.startswith("("):
        runas, closed, rest = rest[1:].partition(")")
        users, _, groups = runas.partition(":")
        if not closed or not _names(users, empty=True) or not _names(groups, empty=True):
            return None
    while (tag := _TAG.match(rest)) is not None:
        rest = rest[tag.end():]
    commands, colon, more = rest.partition(":")
    if not _commands(commands) or (colon and not more.strip()):
        return None
    return more


def sudo_rule(value: str) -> str | None:
    """Why ``value`` is not a sudoers rule sudo reads as written (after the user name), or None."""
    if not value.isascii() or control_characters(value) or "\t" in value \
            or len(value) > SUDO_RULE_MAX:
        return f"a sudo rule is one line of at most {SUDO_RULE_MAX} printable ASCII characters"
    rest: str | None = _spec(value)
    while rest is not None and rest.strip():
        rest = _spec(rest)
    if rest is None or any(c in value for c in "\\#\"'"):
        return (f"{value!r} is not a sudo rule of the form 'HOSTS=(RUNAS) [TAG:] COMMANDS' "
                f"(such as 'ALL=(ALL) NOPASSWD: /usr/bin/systemctl'), without '\\', '#' or "
                f"quotes")
    return None


# -- authorized_keys (OpenSSH's and cloud-init's parsers) ---------------------------------------

# cloud-init's VALID_KEY_TYPES (cloudinit/ssh_util.py), which it takes from OpenSSH's sshkey.c.
KEY_TYPES = (
    "ssh-ed25519", "ssh-rsa", "ssh-dss", "ecdsa-sha2-nistp256", "ecdsa-sha2-nistp384",
    "ecdsa-sha2-nistp521", "sk-ecdsa-sha2-nistp256@openssh.com", "sk-ssh-ed25519@openssh.com",
    "ssh-xmss@openssh.com", "ssh-ed25519-cert-v01@openssh.com", "ssh-rsa-cert-v01@openssh.com",
    "ssh-dss-cert-v01@openssh.com", "ecdsa-sha2-nistp256-cert-v01@openssh.com",
    "ecdsa-sha2-nistp384-cert-v01@openssh.com", "ecdsa-sha2-nistp521-cert-v01@openssh.com",
    "sk-ecdsa-sha2-nistp256-cert-v01@openssh.com", "sk-ssh-ed25519-cert-v01@openssh.com",
    "ssh-xmss-cert-v01@openssh.com",
)
# Options before the key type: comma-separated, no blanks except inside double quotes.
_OPTION = r'[A-Za-z0-9-]+(?:="[^"\\]*")?'
OPTIONS = re.compile(rf"{_OPTION}(?:,{_OPTION})*")


def authorized_key(value: str) -> str | None:
    """Why ``value`` is not exactly one authorized_keys line sshd reads as given, or None.

    ``[options] TYPE BASE64 [comment]``: a known key type, a base64 blob that names the same
    type inside, a comment without control characters.
    """
    controls = control_characters(value)
    if controls:
        return f"an SSH key is one line without control characters (found {controls})"
    if value != value.strip():
        return "an SSH key cannot start or end with blanks"
    fields = value.split(" ", 1)
    if fields[0] not in KEY_TYPES:
        options = OPTIONS.match(value)
        if options is None or value[options.end():options.end() + 1] != " ":
            return (f"does not start with a known key type ({', '.join(KEY_TYPES[:3])}, ...) or "
                    f"with options such as from=\"10.0.0.0/8\",no-pty")
        fields = value[options.end() + 1:].split(" ", 1)
    if fields[0] not in KEY_TYPES:
        return f"{fields[0][:40]!r} is not an SSH key type sshd knows"
    blob, _, _comment = (fields[1] if len(fields) > 1 else "").partition(" ")
    try:
        raw = base64.b64decode(blob, validate=True)
    except (binascii.Error, ValueError):
        raw = b""
    if len(raw) < 4 or raw[4:4 + int.from_bytes(raw[:4], "big")] != fields[0].encode():
        return f"the key data after {fields[0]} is not a base64 {fields[0]} public key"
    return None


# -- /etc/passwd fields (shadow's useradd -c and -s) ------------------------------------------


def passwd_field(value: str) -> str | None:
    """Why ``value`` cannot be a field of /etc/passwd, or None: ':' separates the fields."""
    if ":" in value:
        return f"{value!r} holds ':', the field separator of /etc/passwd"
    controls = control_characters(value)
    if controls:
        return f"{value!r} holds control characters ({controls})"
    return None


def login_shell(value: str) -> str | None:
    """Why ``value`` is no login shell path useradd takes, or None."""
    if not re.fullmatch(r"(?:/[A-Za-z0-9_.+-]+)+", value) or "/../" in f"{value}/" \
            or "/./" in f"{value}/":
        return f"{value!r} is not a plain absolute path to a shell (such as /bin/bash)"
    return None
