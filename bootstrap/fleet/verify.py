"""Run each host's checks over SSH and collect one result per host and check.

A host is connected once (the same strict host keys, timeouts and retries as push); an
unreachable host is one result with the reason, not a failure per check. Checks get a testinfra
``Host`` on that connection (commands under sudo when the login user is not root), the host's
resolved vars with secrets as placeholders, and its build manifest. Any secret value of the host
is removed from what a check reports.
"""

from __future__ import annotations

import time
import traceback
from dataclasses import dataclass, field
from typing import Any

from bootstrap.fleet.checks import Check, Library
from bootstrap.fleet.pool import FleetHost
from bootstrap.fleet.transport import Session, SshOptions, TransportError, connect

PASSED, FAILED, ERROR, SKIPPED = "passed", "failed", "error", "skipped"


@dataclass
class CheckResult:
    check: str
    role: str
    outcome: str
    message: str = ""
    seconds: float = 0.0
    # what the check recorded with ``record_property(name, value)``, pytest's own fixture
    properties: list[tuple[str, Any]] = field(default_factory=list)


@dataclass
class HostReport:
    name: str
    status: str = PASSED  # passed, failed, unreachable, not rendered
    reason: str = ""
    checks: list[CheckResult] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return self.status == PASSED

    def describe(self) -> str:
        if self.reason:
            return f"{self.status}: {self.reason}"
        bad = [c for c in self.checks if c.outcome in (FAILED, ERROR)]
        if bad:
            return f"{len(bad)} of {len(self.checks)} checks failed"
        return f"{len(self.checks)} checks passed" + (
            f" ({self.count(SKIPPED)} skipped)" if self.count(SKIPPED) else "")

    def count(self, outcome: str) -> int:
        return sum(1 for c in self.checks if c.outcome == outcome)

    def as_json(self) -> dict[str, Any]:
        return {"status": self.status, "reason": self.reason or None,
                "seconds": round(self.seconds, 3),
                "checks": [{"check": c.check, "role": c.role, "outcome": c.outcome,
                            "message": c.message or None, "seconds": round(c.seconds, 3),
                            **({"properties": dict(c.properties)} if c.properties else {})}
                           for c in self.checks]}


def verify_host(host: FleetHost, library: Library, ssh: SshOptions, config: Any = None) -> HostReport:
    """Run every check of the host; never raises."""
    report = HostReport(host.name)
    started = time.monotonic()
    if host.manifest is None:
        report.status, report.reason = "not rendered", host.not_rendered()
        return report
    checks = library.for_roles(host.roles)
    try:
        session = connect(host.name, host.connection, ssh, config)
    except TransportError as exc:
        report.status, report.reason = "unreachable", host.redact(str(exc))
        report.seconds = time.monotonic() - started
        return report
    try:
        fixtures = {"host": testinfra_host(session), "hostvars": host.hostvars,
                    "manifest": host.manifest.raw}
        for check in checks:
            report.checks.append(_run(check, fixtures, host))
    finally:
        session.close()
    if any(c.outcome in (FAILED, ERROR) for c in report.checks):
        report.status = FAILED
    report.seconds = time.monotonic() - started
    return report


def _run(check: Check, fixtures: dict[str, Any], host: FleetHost) -> CheckResult:
    import pytest

    started = time.monotonic()
    result = CheckResult(check.name, check.role, PASSED)
    # A check states what it saw, pass or fail, as under pytest (JUnit properties there).
    fixtures = {**fixtures, "record_property": lambda name, value: result.properties.append(
        (str(name), value))}
    unknown = [n for n in check.fixtures if n not in fixtures]
    if check.skip is not None:
        result.outcome, result.message = SKIPPED, check.skip
    elif unknown:
        result.outcome = ERROR
        result.message = (f"unknown fixture {', '.join(unknown)}: checks can take "
                          f"{', '.join(fixtures)}")
    else:
        try:
            check.function(**{n: fixtures[n] for n in check.fixtures}, **check.params)
        except pytest.skip.Exception as exc:
            result.outcome, result.message = SKIPPED, str(exc.msg)
        except pytest.xfail.Exception as exc:  # before fail: an expected failure is no failure
            result.outcome, result.message = SKIPPED, f"xfail: {exc.msg}"
        except pytest.fail.Exception as exc:
            result.outcome, result.message = FAILED, str(exc.msg)
        except AssertionError as exc:
            text = str(exc).strip() or "assertion failed"
            result.outcome, result.message = FAILED, text + _where(exc, check)
        except TransportError as exc:
            result.outcome, result.message = ERROR, str(exc)
        except Exception as exc:  # a broken check is that check's result
            result.outcome = ERROR
            result.message = f"{type(exc).__name__}: {exc}{_where(exc, check)}"
    result.message = host.redact(result.message)
    result.properties = [(host.redact(name), _redacted(value, host.redact))
                         for name, value in result.properties]
    result.seconds = time.monotonic() - started
    return result


def _redacted(value: Any, redact: Any) -> Any:
    """``value`` with every string in it redacted; JSON's own types only."""
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, dict):
        return {redact(str(k)): _redacted(v, redact) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_redacted(v, redact) for v in value]
    if value is None or isinstance(value, bool | int | float):
        return value
    return redact(str(value))


def _where(exc: BaseException, check: Check) -> str:
    """The line of the check's own file that raised, as ' (file:line)'."""
    source = check.function.__code__.co_filename
    lines = [f.lineno for f in traceback.extract_tb(exc.__traceback__) if f.filename == source]
    return f" ({source}:{lines[-1]})" if lines else ""


def testinfra_host(session: Session) -> Any:
    """A testinfra Host whose commands run on the session's connection."""
    import testinfra.host
    from testinfra.backend.paramiko import ParamikoBackend

    class SessionBackend(ParamikoBackend):
        """testinfra's paramiko backend, on a connection made with our host-key checks."""

        @property  # type: ignore[override]
        def client(self) -> Any:
            # testinfra reconnects on its own with no host-key checks; a lost connection
            # is an error here instead.
            transport = session.client.get_transport()
            if transport is None or not transport.is_active():
                raise TransportError("connection lost")
            return session.client

        @client.deleter
        def client(self) -> None:
            raise TransportError("connection lost")

        def _exec_command(self, command: bytes) -> tuple[int, bytes, bytes]:
            # testinfra waits for ever; a check whose command hangs must end, as an error.
            limit = session.options.command_timeout
            try:
                channel = self.client.get_transport().open_session(timeout=session.options.timeout)
                channel.settimeout(limit)
                channel.exec_command(command)
                stdout = b"".join(channel.makefile("rb"))
                stderr = b"".join(channel.makefile_stderr("rb"))
                return channel.recv_exit_status(), stdout, stderr
            except TimeoutError:
                raise TransportError(f"no answer for {limit:g} s from: "
                                     f"{command.decode(errors='replace')}") from None

    host, _, port = session.address.rpartition(":")
    backend = SessionBackend(f"{session.login_user}@{host}:{port}", sudo=session.become,
                             sudo_user=session.become_user if session.become else None)
    return testinfra.host.Host(backend)
