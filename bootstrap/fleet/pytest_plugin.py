"""The roles' checks under plain pytest and testinfra, for those who prefer pytest directly.

```
pytest -p bootstrap.verify_plugin --bootstrap-inventory inventory [--bootstrap-build build] \\
    --hosts='ssh://web1,ssh://web3?sudo=true' --ssh-config ssh_config
```

testinfra passes ``--ssh-config`` to OpenSSH but not ``--ssh-extra-args``, so host-key policy
(``UserKnownHostsFile``, ``StrictHostKeyChecking yes``), users, ports and keys belong in that
file, one ``Host`` block per inventory host name.

testinfra makes the ``host`` fixture from ``--hosts`` as usual; this plugin adds ``hostvars``
and ``manifest`` for the inventory host a testinfra host stands for (same name, or same
``ansible_host`` and ``ansible_port``), collects the generic manifest checks and the checks of
every role in the build when no test path is given, runs a role's checks only on hosts that
have the role, reports an unreachable host once (and fails the run) instead of once per check,
and removes the host's secret values from failure reports.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from bootstrap.fleet import pool
from bootstrap.fleet.checks import MANIFEST_LABEL, manifest_checks_path

_FLEET = pytest.StashKey[pool.Fleet]()
_UNREACHABLE = pytest.StashKey[dict[str, str]]()


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("bootstrap")
    group.addoption("--bootstrap-inventory", metavar="PATH",
                    help="inventory file or folder whose hosts --hosts names")
    group.addoption("--bootstrap-build", default="build", metavar="DIR",
                    help="build directory written by bootstrap render (default: build)")
    group.addoption("--bootstrap-limit", metavar="PATTERN",
                    help="Ansible host pattern: only these inventory hosts")
    group.addoption("--bootstrap-secrets-dir", action="append", default=[], metavar="DIR",
                    help="also resolve {file: ...} secret references beneath DIR")


def pytest_configure(config: pytest.Config) -> None:
    source = config.getoption("--bootstrap-inventory")
    if not source:
        return
    loaded = pool.load(Path(source), Path(config.getoption("--bootstrap-build")),
                        config.getoption("--bootstrap-limit"),
                        tuple(Path(d) for d in config.getoption("--bootstrap-secrets-dir")))
    config.stash[_FLEET] = loaded
    config.stash[_UNREACHABLE] = {}
    # Every role's file is called checks.py: import each by its path, not as module "checks".
    config.option.importmode = "importlib"
    if config.args_source != pytest.Config.ArgsSource.ARGS:
        roles = sorted({r for h in loaded.hosts for r in h.roles})
        files = [manifest_checks_path()]
        files += [p for p in (loaded.registry.get(r).file("checks.py") for r in roles) if p]
        config.args = [str(p) for p in files]


def _fleet_host(config: pytest.Config, host: Any) -> pool.FleetHost | None:
    """The inventory host a testinfra host stands for."""
    spec = getattr(host.backend, "host", None)
    name = str(getattr(spec, "name", None) or spec or host.backend.get_hostname())
    port = int(getattr(spec, "port", None) or 22)
    hosts = config.stash[_FLEET].hosts
    for candidate in hosts:
        if candidate.name == name:
            return candidate
    matches = [h for h in hosts if (h.connection.ansible_host or h.name) == name
               and h.connection.ansible_port == port]
    return matches[0] if len(matches) == 1 else None


def _required(request: pytest.FixtureRequest, host: Any) -> pool.FleetHost:
    found = _fleet_host(request.config, host)
    if found is None:
        pytest.fail(f"{host.backend.get_pytest_id()} is no host of the inventory "
                    "(match its name, or ansible_host and ansible_port)", pytrace=False)
    if found.manifest is None:
        pytest.fail(f"not rendered: {found.not_rendered()}", pytrace=False)
    return found


@pytest.fixture(scope="module")
def hostvars(request: pytest.FixtureRequest, host: Any) -> dict[str, Any]:
    """The host's resolved inventory vars, secret references as placeholders."""
    return _required(request, host).hostvars


@pytest.fixture(scope="module")
def manifest(request: pytest.FixtureRequest, host: Any) -> dict[str, Any]:
    """The host's build manifest (files with dest, sha256, mode, owner, role)."""
    found = _required(request, host)
    assert found.manifest is not None
    return found.manifest.raw


def _testinfra_host(item: pytest.Item) -> Any:
    callspec = getattr(item, "callspec", None)
    return callspec.params.get("_testinfra_host") if callspec else None


def _role(item: pytest.Item) -> str:
    path = Path(str(item.path))
    return MANIFEST_LABEL if path == manifest_checks_path() else path.parent.name


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if _FLEET not in config.stash:
        return
    hosts = {id(h): h for h in (_testinfra_host(i) for i in items) if h is not None}
    unreachable = config.stash[_UNREACHABLE]
    with ThreadPoolExecutor(max_workers=10) as executor:
        for host, reason in zip(hosts.values(), executor.map(_reach, hosts.values()), strict=True):
            if reason:
                unreachable[host.backend.get_pytest_id()] = reason
    keep, drop = [], []
    for item in items:
        host = _testinfra_host(item)
        if host is None:
            keep.append(item)
            continue
        known = _fleet_host(config, host)
        role = _role(item)
        if host.backend.get_pytest_id() in unreachable or (
                known is not None and role != MANIFEST_LABEL and role not in known.roles):
            drop.append(item)
        else:
            keep.append(item)
    if drop:
        config.hook.pytest_deselected(items=drop)
        items[:] = keep


def _reach(host: Any) -> str:
    """Why the host cannot run a command, or '' when it can."""
    try:
        result = host.run("true")
    except Exception as exc:  # each backend fails its own way; all mean the same here
        failed = exc.args[0] if exc.args else None
        if not hasattr(failed, "stderr"):  # the ssh backend raises its CommandResult
            return f"{type(exc).__name__}: {exc}".strip()
        result = failed
    if result.rc != 0:
        lines = (result.stderr or result.stdout).strip().splitlines()
        return lines[-1] if lines else f"exit {result.rc}"
    return ""


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
    outcome = yield
    report = outcome.get_result()
    if _FLEET not in item.config.stash or not report.failed:
        return
    host = _testinfra_host(item)
    known = _fleet_host(item.config, host) if host is not None else None
    if known is not None:
        report.longrepr = known.redact(str(report.longrepr))
        report.sections = [(title, known.redact(text)) for title, text in report.sections]


def pytest_terminal_summary(terminalreporter: Any, config: pytest.Config) -> None:
    unreachable = config.stash.get(_UNREACHABLE, {})
    if unreachable:
        terminalreporter.section("unreachable hosts (not checked)", red=True)
        for name, reason in sorted(unreachable.items()):
            terminalreporter.write_line(f"UNREACHABLE {name}: {reason}", red=True)


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    if session.config.stash.get(_UNREACHABLE, {}):
        session.exitstatus = pytest.ExitCode.TESTS_FAILED
