"""SSH to one host with the inventory's connection vars: strict host keys, timeouts, retries.

fabric's ``Connection`` resolves the connection settings (user, port, key file, the user's
ssh_config with its aliases and ProxyJump gateways). Its client accepts any host key by default,
so ours gets a policy before it connects: keys must be in the known_hosts file, or, when asked,
a host never seen before has its key recorded there (OpenSSH's ``accept-new``); a key that
differs from the recorded one is always refused.

Commands run on exec channels with their input streamed and stderr folded into stdout (one
stream, so a chatty command can never stall on a full window). A script gets its arguments as
``sh -c SCRIPT sh ARG...``, each quoted, and runs under ``sudo -n`` when the login user is not
the user to become.
"""

from __future__ import annotations

import fcntl
import os
import shlex
import socket
import threading
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from bootstrap.hosts.model import Connection

DEFAULT_KNOWN_HOSTS = Path("~/.ssh/known_hosts")
_CHUNK = 32768


@dataclass(frozen=True)
class SshOptions:
    """How to reach hosts: which host keys to trust, and how long to wait and retry."""

    known_hosts: Path = DEFAULT_KNOWN_HOSTS
    accept_new_host_keys: bool = False
    timeout: float = 10.0
    retries: int = 2
    backoff: float = 0.5
    command_timeout: float = 600.0


class TransportError(Exception):
    """A host could not be reached or a command could not complete; the message says why.

    ``final`` errors (a refused host key, failed authentication) are not retried.
    """

    def __init__(self, message: str, *, final: bool = False) -> None:
        super().__init__(message)
        self.final = final


@dataclass(frozen=True, slots=True)
class Result:
    rc: int
    output: str


class Session:
    """One connected host."""

    def __init__(self, name: str, fabric_connection: Any, become_user: str,
                 options: SshOptions) -> None:
        self.name = name
        self.fabric = fabric_connection
        self.client = fabric_connection.client
        self.login_user: str = fabric_connection.user
        self.become_user = become_user
        self.options = options
        self.address = f"{fabric_connection.host}:{fabric_connection.port}"

    @property
    def become(self) -> bool:
        return self.login_user != self.become_user

    def command(self, script: str, args: Sequence[str] = ()) -> str:
        """The command line that runs ``script`` with ``args`` (under sudo when needed)."""
        line = " ".join(shlex.quote(a) for a in ("sh", "-c", script, "sh", *args))
        if self.become:
            # -n: never wait for a password prompt nobody will answer
            line = f"sudo -n -H -u {shlex.quote(self.become_user)} -- {line}"
        return line

    def run(self, script: str, args: Sequence[str] = (), *, stdin: Iterable[bytes] = (),
            timeout: float | None = None) -> Result:
        """Run a shell script on the host, streaming ``stdin`` to it; output is stdout+stderr."""
        import paramiko

        transport = self.client.get_transport()
        if transport is None or not transport.is_active():
            raise TransportError("connection lost")
        try:
            channel = transport.open_session(timeout=self.options.timeout)
            channel.settimeout(timeout or self.options.command_timeout)
            channel.set_combine_stderr(True)
            channel.exec_command(self.command(script, args))
            try:
                for chunk in stdin:
                    channel.sendall(chunk)
                channel.shutdown_write()
            except (paramiko.SSHException, EOFError, OSError):
                # The command may have ended without reading all of its input: then its
                # output says why, and the connection is fine.
                if not channel.exit_status_ready():
                    raise
            output = bytearray()
            while data := channel.recv(_CHUNK):
                output += data
            # -1: the channel closed without an exit status (the connection went away)
            rc = channel.recv_exit_status()
        except TimeoutError:
            raise TransportError(f"no answer for {timeout or self.options.command_timeout:g} s "
                                 "from a command on the host") from None
        except (paramiko.SSHException, EOFError, OSError) as exc:
            raise TransportError(f"connection lost ({_describe(exc)})") from None
        if rc == -1:
            raise TransportError("connection lost before the command finished")
        return Result(rc, output.decode(errors="replace"))

    def close(self) -> None:
        self.fabric.close()


def connect(name: str, connection: Connection, options: SshOptions,
            config: Any = None) -> Session:
    """Connect to the host, retrying unreachable hosts with backoff; raise TransportError."""
    attempt = 0
    while True:
        attempt += 1
        try:
            return _connect_once(name, connection, options, config)
        except TransportError as exc:
            if exc.final or attempt > options.retries:
                if attempt > 1:
                    raise TransportError(f"{exc} (after {attempt} attempts)") from None
                raise
        time.sleep(options.backoff * 2 ** (attempt - 1))


def _connect_once(name: str, connection: Connection, options: SshOptions,
                  config: Any) -> Session:
    import fabric
    import paramiko

    kwargs: dict[str, Any] = {"banner_timeout": options.timeout,
                              "auth_timeout": options.timeout,
                              "channel_timeout": options.timeout}
    if connection.ansible_ssh_private_key_file:
        kwargs["key_filename"] = os.path.expanduser(connection.ansible_ssh_private_key_file)
        kwargs["look_for_keys"] = False
    conn = fabric.Connection(
        connection.ansible_host or name,
        user=connection.ansible_user,
        port=connection.ansible_port,
        config=config,
        connect_timeout=int(options.timeout) or 1,
        connect_kwargs=kwargs,
    )
    known_hosts = options.known_hosts.expanduser()
    client = conn.client
    if known_hosts.is_file():
        client.load_host_keys(str(known_hosts))
    client.set_missing_host_key_policy(
        _AcceptNew(known_hosts) if options.accept_new_host_keys else _Reject(known_hosts))
    where = f"{conn.host}:{conn.port}"
    known_name = _known_name(conn.host, conn.port)
    if not conn.gateway:
        conn.connect_kwargs["sock"] = _socket(conn.host, conn.port, options.timeout, where)
    try:
        conn.open()
    except _UnknownHostKey as exc:
        raise TransportError(str(exc), final=True) from None
    except paramiko.BadHostKeyException as exc:
        conn.close()
        raise TransportError(
            f"host key of {known_name} does not match {known_hosts}: the host offers "
            f"{exc.key.get_name()} {exc.key.fingerprint}, the file has "
            f"{exc.expected_key.fingerprint}; refusing to connect (if the host was rebuilt, "
            f"remove its old line with: ssh-keygen -R {known_name} -f {known_hosts})",
            final=True) from None
    except paramiko.AuthenticationException as exc:
        conn.close()
        key = connection.ansible_ssh_private_key_file or "default keys"
        raise TransportError(f"authentication as {conn.user} on {where} failed ({key}): "
                             f"{_describe(exc)}", final=True) from None
    except TimeoutError:
        conn.close()
        raise TransportError(f"cannot connect to {where}: timed out after {options.timeout:g} s") \
            from None
    except paramiko.ssh_exception.NoValidConnectionsError as exc:
        conn.close()
        reasons = {os.strerror(e.errno) if e.errno else str(e) for e in exc.errors.values()}
        raise TransportError(f"cannot connect to {where}: {', '.join(sorted(reasons))}") from None
    except (paramiko.SSHException, EOFError, OSError) as exc:
        conn.close()
        raise TransportError(f"cannot connect to {where}: {_describe(exc)}") from None
    return Session(name, conn, connection.ansible_become_user, options)


def _socket(host: str, port: int, timeout: float, where: str) -> socket.socket:
    """A TCP connection with Nagle's algorithm off: SSH's small request/reply packets would
    otherwise wait for delayed ACKs, about 40 ms per command on loopback."""
    try:
        sock = socket.create_connection((host, port), timeout=timeout)
    except TimeoutError:
        raise TransportError(f"cannot connect to {where}: timed out after {timeout:g} s") from None
    except OSError as exc:
        raise TransportError(f"cannot connect to {where}: {exc.strerror or exc}") from None
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return sock


def _describe(exc: BaseException) -> str:
    text = str(exc).strip()
    return text or type(exc).__name__


def _known_name(host: str, port: int) -> str:
    return host if port == 22 else f"[{host}]:{port}"


class _UnknownHostKey(Exception):
    pass


class _Reject:
    """Refuse a host whose key is not in known_hosts, saying how to add it."""

    def __init__(self, known_hosts: Path) -> None:
        self.known_hosts = known_hosts

    def missing_host_key(self, client: Any, hostname: str, key: Any) -> None:
        host, _, port = hostname.strip("[").partition("]:")
        scan = f"ssh-keyscan -p {port} {host}" if port else f"ssh-keyscan {host}"
        raise _UnknownHostKey(
            f"host key of {hostname} ({key.get_name()} {key.fingerprint}) is not in "
            f"{self.known_hosts}; refusing to connect. Check the fingerprint and add it "
            f"({scan} >> {self.known_hosts}), or pass --accept-new-host-keys")


class _AcceptNew:
    """Record the key of a host never seen before; a changed key is still refused by paramiko."""

    _lock = threading.Lock()

    def __init__(self, known_hosts: Path) -> None:
        self.known_hosts = known_hosts

    def missing_host_key(self, client: Any, hostname: str, key: Any) -> None:
        line = f"{hostname} {key.get_name()} {key.get_base64()}\n"
        with self._lock:
            self.known_hosts.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
            with open(self.known_hosts, "a") as handle:
                # Other processes may record keys at the same time.
                fcntl.flock(handle, fcntl.LOCK_EX)
                handle.write(line)
        client.get_host_keys().add(hostname, key.get_name(), key)
