"""Vault passwords: where they come from, read once and only when an encrypted value needs one.

Sources, in Ansible's order: the ``[LABEL@]FILE`` items of ``ANSIBLE_VAULT_IDENTITY_LIST``
(separated by commas), each ``--vault-id [LABEL@]FILE`` (label ``default`` without one), each
``--vault-password-file FILE``, then ``ANSIBLE_VAULT_PASSWORD_FILE``. As in Ansible,
a file's content less its surrounding whitespace is the password, and an executable file is a
program whose output is the password: run with no argument, or, when its name ends in
``-client`` (``vault-keyring-client.py``), with ``--vault-id LABEL``. It runs with the user's
terminal (so it may ask for a passphrase), no shell, and a time limit. Prompting for a password
(``--vault-id prompt``) is not offered: the commands also run unattended.
"""

from __future__ import annotations

import contextvars
import os
import stat
import subprocess
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from bootstrap.errors import BootstrapError, Origin
from bootstrap.inventory.vault import DEFAULT_ID, NoPassword, Password, decrypt
from bootstrap.inventory.yamlfile import read_file

ENV = "ANSIBLE_VAULT_PASSWORD_FILE"
ENV_IDS = "ANSIBLE_VAULT_IDENTITY_LIST"
HOW = ("give its password with --vault-password-file FILE or --vault-id [LABEL@]FILE "
       f"(or set {ENV})")
# A password program that has not answered by then is stuck (it may be asking on a terminal).
SCRIPT_SECONDS = 300
# Exit status by which a -client program says it holds no password for the vault id.
CLIENT_UNKNOWN_ID = 2
MAX_PASSWORD_BYTES = 1 << 20


@dataclass(frozen=True, slots=True)
class Source:
    label: str
    path: Path


class VaultKeys:
    """The vault passwords of one command, and what they decrypted."""

    def __init__(self, sources: Sequence[Source] = ()) -> None:
        self.sources = tuple(sources)
        self._passwords: list[Password] | None = None
        # Inventory files are read again for their line numbers: decrypt each text once.
        self._plain: dict[bytes, bytes] = {}

    @classmethod
    def from_options(cls, vault_ids: Sequence[str] = (), password_files: Sequence[str] = (),
                     environ: Mapping[str, str] = os.environ) -> VaultKeys:
        listed = [item.strip() for item in environ.get(ENV_IDS, "").split(",") if item.strip()]
        sources = [_source(text) for text in (*listed, *vault_ids)]
        sources += [Source(DEFAULT_ID, Path(name)) for name in password_files]
        if environ.get(ENV):
            sources.append(Source(DEFAULT_ID, Path(environ[ENV])))
        return cls(sources)

    def decrypt(self, data: bytes) -> bytes:
        """The plaintext of a vault text; :class:`~bootstrap.inventory.vault.VaultError` when it
        cannot be had, a :class:`BootstrapError` naming a password file that cannot be read."""
        if data in self._plain:
            return self._plain[data]
        if not self.sources:
            raise NoPassword(f"encrypted with ansible-vault: {HOW}")
        plain = decrypt(data, self.passwords())
        self._plain[data] = plain
        return plain

    def passwords(self) -> list[Password]:
        if self._passwords is None:
            self._passwords = [Password(s.label, _read(s), str(s.path)) for s in self.sources]
        return self._passwords


def _source(text: str) -> Source:
    """``LABEL@FILE`` or ``FILE``, split as Ansible does (at the first ``@``)."""
    label, at, name = text.partition("@")
    if not at:
        label, name = DEFAULT_ID, text
    if name in ("prompt", "prompt_ask_vault_pass"):
        raise BootstrapError(f"--vault-id {text}: asking for a vault password is not supported; "
                             "give a file that holds it (or a program that prints it)")
    if not name:
        raise BootstrapError(f"--vault-id {text}: no password file after the '@'")
    return Source(label or DEFAULT_ID, Path(name))


def _read(source: Source) -> bytes:
    path, shown = source.path, str(source.path)
    try:
        info = path.stat()
    except OSError as exc:
        raise BootstrapError(f"vault password file: {exc.strerror}", origin=Origin(shown)) from None
    if stat.S_ISREG(info.st_mode) and info.st_mode & (stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH):
        password = _run(source)
    else:
        data = read_file(path, shown)
        if len(data) > MAX_PASSWORD_BYTES:
            raise BootstrapError(f"vault password file larger than {MAX_PASSWORD_BYTES} bytes",
                                 origin=Origin(shown))
        password = data.strip()
    if not password:
        raise BootstrapError("vault password file is empty", origin=Origin(shown))
    if password.startswith(b"$ANSIBLE_VAULT"):
        raise BootstrapError("vault password file is itself encrypted with ansible-vault; "
                             "give the password in clear (in a file only you can read)",
                             origin=Origin(shown))
    return password


def _run(source: Source) -> bytes:
    """The password a program prints (its stderr and stdin stay the user's terminal)."""
    shown = str(source.path)
    command = [str(source.path.absolute())]
    client = os.path.splitext(source.path.name)[0].endswith("-client")
    if client:
        command += ["--vault-id", source.label]
    try:
        done = subprocess.run(command, stdout=subprocess.PIPE, timeout=SCRIPT_SECONDS, check=False)
    except subprocess.TimeoutExpired:
        raise BootstrapError(f"vault password program did not finish within {SCRIPT_SECONDS} s",
                             origin=Origin(shown)) from None
    except OSError as exc:
        raise BootstrapError(f"vault password file is executable, so it is run, and that "
                             f"failed: {exc.strerror}; if it is not a program, remove its "
                             "executable bit (chmod -x)", origin=Origin(shown)) from None
    if client and done.returncode == CLIENT_UNKNOWN_ID:
        raise BootstrapError(f"vault password program has no password for vault id "
                             f"{source.label!r}", origin=Origin(shown))
    if done.returncode != 0:
        raise BootstrapError(f"vault password program exited with status {done.returncode}",
                             origin=Origin(shown))
    if len(done.stdout) > MAX_PASSWORD_BYTES:
        raise BootstrapError(f"vault password program printed more than {MAX_PASSWORD_BYTES} "
                             "bytes", origin=Origin(shown))
    return done.stdout.strip(b"\r\n")


# The passwords of the command under way (the command line sets them; see :func:`using`).
_active: contextvars.ContextVar[VaultKeys | None] = contextvars.ContextVar(
    "bootstrap_vault_keys", default=None)


@contextmanager
def using(keys: VaultKeys) -> Iterator[VaultKeys]:
    """Within this block, inventories opened without passwords of their own use ``keys``."""
    token = _active.set(keys)
    try:
        yield keys
    finally:
        _active.reset(token)


def current() -> VaultKeys:
    """The passwords of the command under way; outside one, only ``ANSIBLE_VAULT_PASSWORD_FILE``."""
    keys = _active.get()
    return keys if keys is not None else VaultKeys.from_options()
