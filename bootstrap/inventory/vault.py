"""Ansible Vault decryption: an envelope and the passwords in, the plaintext out.

The format, as ``ansible-vault`` writes it (``ansible/parsing/vault``):

- a header line ``$ANSIBLE_VAULT;1.1;AES256``, or ``$ANSIBLE_VAULT;1.2;AES256;LABEL`` where
  LABEL is the vault id the text was encrypted for;
- then the hex of ``hex(salt) \\n hex(hmac) \\n hex(ciphertext)``, in lines of 80 characters.

PBKDF2-HMAC-SHA256 (10,000 iterations) of the password and the salt gives 80 bytes: the AES-256
key, the HMAC-SHA256 key and the 16-byte counter of AES-CTR. The HMAC of the ciphertext is
checked, in constant time, before anything is decrypted; the plaintext carries PKCS#7 padding.

The vault id in the header is not authenticated: it only says which password to try first. As
Ansible does (with ``vault_id_match`` off, its default), the passwords whose label matches are
tried first, then every other one. A wrong password and an altered text fail the same way: the
HMAC does not match, and no one can tell the two apart.

Nothing here reads a file or prints: errors say what is wrong, never a password or plaintext.
"""

from __future__ import annotations

import binascii
import functools
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

HEADER = b"$ANSIBLE_VAULT"
DEFAULT_ID = "default"
CIPHERS = ("AES256",)
ITERATIONS = 10000
# Keys whose values the tool itself reads to work (which roles, how to reach the host, group
# order): in a file encrypted whole they stay plain values, while every other value becomes a
# secret. An inline !vault value under one of them stays a secret, and is refused where a plain
# value is needed.
PLAIN_KEYS = frozenset({
    "bootstrap_roles", "ansible_group_priority", "ansible_host", "ansible_port", "ansible_user",
    "ansible_connection", "ansible_ssh_private_key_file", "ansible_become", "ansible_become_user",
})
_KEY_BYTES = 32
_IV_BYTES = 16
# An envelope bigger than this is no inventory value: refused before any hex is decoded.
MAX_ENVELOPE_BYTES = 64 << 20


class VaultError(Exception):
    """Why a vault text cannot be decrypted; the message holds no secret."""


class NoPassword(VaultError):
    """Encrypted text met while no vault password was given."""


class WrongPassword(VaultError):
    """No password given decrypts the text (a wrong password, or a text altered since)."""


@dataclass(frozen=True, slots=True)
class Password:
    """One vault password and the vault id (label) it was given for."""

    label: str
    secret: bytes = field(repr=False)
    source: str = ""  # where it came from, for messages (a file name), never the password


@dataclass(frozen=True, slots=True)
class Envelope:
    version: str
    cipher: str
    vault_id: str | None
    salt: bytes
    hmac: bytes
    ciphertext: bytes


@dataclass(frozen=True, slots=True)
class Vaulted:
    """A value that was encrypted with vault: it prints as its placeholder, never its value.

    ``name`` says where it came from (a file and the key path in it, relative to the inventory
    folder), so the placeholder is stable from run to run and differs between values.
    """

    name: str
    value: Any = field(repr=False, compare=False)  # equal names, equal values: never compared

    @property
    def label(self) -> str:
        return f"<secret:vault:{self.name}>"

    def __repr__(self) -> str:
        return self.label

    def __str__(self) -> str:
        return self.label


def is_encrypted(data: bytes | str) -> bool:
    """Whether ``data`` is a vault text (Ansible's test: ASCII, starting with the header)."""
    if isinstance(data, str):
        if not data.isascii():
            return False
        data = data.encode("ascii")
    return data.startswith(HEADER)


def parse(data: bytes) -> Envelope:
    """The parts of a vault text; a malformed one is a :class:`VaultError` saying how."""
    if len(data) > MAX_ENVELOPE_BYTES:
        raise VaultError(f"vault text larger than {MAX_ENVELOPE_BYTES >> 20} MiB")
    lines = data.splitlines()
    header = lines[0].strip().split(b";") if lines else []
    if len(header) < 3 or header[0] != HEADER:
        raise VaultError("not a vault text: the first line must be $ANSIBLE_VAULT;VERSION;CIPHER")
    try:
        version, cipher = header[1].strip().decode("ascii"), header[2].strip().decode("ascii")
        vault_id = header[3].strip().decode("utf-8") if len(header) >= 4 else None
    except UnicodeDecodeError:
        raise VaultError("malformed vault header: it is not text") from None
    if version not in ("1.1", "1.2"):
        raise VaultError(f"vault format {version[:40]!r} is not supported (1.1 and 1.2 are)")
    if cipher not in CIPHERS:
        raise VaultError(f"vault cipher {cipher[:40]!r} is not supported (AES256 is)")
    try:
        inner = binascii.unhexlify(b"".join(line.strip() for line in lines[1:]))
        salt_hex, hmac_hex, text_hex = inner.split(b"\n", 2)
        salt, hmac = binascii.unhexlify(salt_hex), binascii.unhexlify(hmac_hex)
        ciphertext = binascii.unhexlify(text_hex)
    except (binascii.Error, ValueError):
        raise VaultError("malformed vault text: its body is not the hex of salt, HMAC and "
                         "ciphertext (was it cut or edited?)") from None
    if not salt or len(hmac) != 32 or not ciphertext or len(ciphertext) % 16:
        raise VaultError("malformed vault text: salt, HMAC or ciphertext has a wrong length "
                         "(was it cut or edited?)")
    return Envelope(version, cipher, vault_id or None, salt, hmac, ciphertext)


def candidates(passwords: Sequence[Password], vault_id: str | None) -> list[Password]:
    """The passwords to try, in Ansible's order: those given for the text's vault id (or for
    ``default`` when the text names none), then all the others, each in the order given."""
    wanted = vault_id or DEFAULT_ID
    first = [p for p in passwords if p.label == wanted]
    return [*first, *(p for p in passwords if p.label != wanted)]


def decrypt(data: bytes, passwords: Sequence[Password]) -> bytes:
    """The plaintext of the vault text ``data``, with the first password that opens it."""
    envelope = parse(data)
    _cryptography()
    if not passwords:
        raise NoPassword("encrypted with ansible-vault, and no vault password was given")
    for password in candidates(passwords, envelope.vault_id):
        plaintext = _open(envelope, password.secret)
        if plaintext is not None:
            return plaintext
    why = "a wrong password, or a text altered since it was encrypted"
    if len(passwords) == 1:
        raise WrongPassword(f"cannot decrypt: the vault password {_sources(passwords)} does not "
                            f"open it ({why})")
    raise WrongPassword(f"cannot decrypt: none of the {len(passwords)} vault passwords given "
                        f"({_sources(passwords)}) opens it ({why})")


def _sources(passwords: Sequence[Password]) -> str:
    return ", ".join(f"{p.label}@{p.source}" if p.source else p.label for p in passwords)


def _cryptography() -> None:
    """Refuse clearly when the library is missing (it is imported only when a vault text is
    met, so an inventory without one never needs it)."""
    try:
        import cryptography  # noqa: F401
    except ImportError:
        raise VaultError("decrypting ansible-vault needs the Python package cryptography "
                         "(pip install cryptography)") from None


def _open(envelope: Envelope, secret: bytes) -> bytes | None:
    """The plaintext, or None when the HMAC does not match (wrong password or altered text)."""
    from cryptography.exceptions import InvalidSignature
    from cryptography.hazmat.primitives import hashes, padding
    from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
    from cryptography.hazmat.primitives.hmac import HMAC

    key, hmac_key, iv = derive(secret, envelope.salt)
    check = HMAC(hmac_key, hashes.SHA256())
    check.update(envelope.ciphertext)
    try:
        check.verify(envelope.hmac)  # constant time
    except InvalidSignature:
        return None
    decryptor = Cipher(algorithms.AES(key), modes.CTR(iv)).decryptor()
    padded = decryptor.update(envelope.ciphertext) + decryptor.finalize()
    unpadder = padding.PKCS7(128).unpadder()
    try:
        return unpadder.update(padded) + unpadder.finalize()
    except ValueError:
        # Authentic yet badly padded: written by something that is not ansible-vault.
        raise VaultError("malformed vault text: the decrypted data has no valid padding") from None


@functools.lru_cache(maxsize=256)
def derive(secret: bytes, salt: bytes) -> tuple[bytes, bytes, bytes]:
    """AES key, HMAC key and counter for one password and salt (PBKDF2 costs ~10 ms, and
    ``ansible-vault encrypt`` reuses its salt when ``vault_encrypt_salt`` is set)."""
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.kdf.pbkdf2 import PBKDF2HMAC

    kdf = PBKDF2HMAC(algorithm=hashes.SHA256(), length=2 * _KEY_BYTES + _IV_BYTES, salt=salt,
                     iterations=ITERATIONS)
    derived = kdf.derive(secret)
    return derived[:_KEY_BYTES], derived[_KEY_BYTES:2 * _KEY_BYTES], derived[2 * _KEY_BYTES:]
