"""Push a host's built files over SSH: only what differs on the host, atomically, then apply.

For each host: connect (strict host keys, retries); wait until each of its roles with a
``ready`` hook says the host is ready (a first boot still running, say); ask the host for the
sha256, mode and owner of every managed file in one command; upload the files that differ in
one stream. On the host each file is written to a temporary file in
its destination directory, checked against the manifest's sha256, given its mode and owner,
then renamed over the old one, so a reader (or a cut connection) never sees a partial file; a
short read removes the temporary file.

A role whose files changed gets a marker in ``/var/lib/bootstrap/apply-pending/``; ``--apply``
runs the role's ``apply:`` command where a marker is and clears it when the command succeeds.
So a push cut off before its apply step, or a push without ``--apply``, is applied by the next
``push --apply`` even though nothing differs any more.
"""

from __future__ import annotations

import hashlib
import shlex
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bootstrap.fleet import filestate
from bootstrap.fleet.pool import FleetHost
from bootstrap.fleet.transport import Result, Session, SshOptions, TransportError, connect
from bootstrap.render.hooks import ReadyHost
from bootstrap.render.registry import Registry

PENDING = "/var/lib/bootstrap/apply-pending"
_CHUNK = 1 << 16

# Removes temporary files a killed upload may have left next to the managed files.
_CLEAN = r"""
for f do
  for t in "${f%/*}/.${f##*/}".bootstrap-*; do
    if [ -f "$t" ]; then rm -f -- "$t"; fi
  done
done
"""

_PENDING_LIST = f"""
echo pending; ls -1 {PENDING} 2>/dev/null; exit 0
"""

# Arguments: backup suffix, then six per file: dest mode owner sha256 size apply-marker.
# A secret file's sha256 is "-" and comes on stdin before its bytes: arguments are visible
# to every user of the host (ps), and a digest of a short secret can be brute-forced.
# stdin: the files' bytes, one after the other. stdout: "ok I" or error lines then "fail I".
# Temporary files are created with noclobber under umask 077 (private until renamed), and
# only commands that must run are run: on a busy host every process counts.
_INSTALL = r"""
exec 2>&1
umask 077
set -C
backup=$1; shift
me=$(id -un):$(id -gn)
tmp=
trap 'if [ -n "$tmp" ]; then rm -f -- "$tmp"; fi' EXIT
trap 'exit 129' HUP
trap 'exit 141' PIPE
trap 'exit 143' TERM
install_one() {
  dir=${dest%/*}
  if [ ! -d "${dir:-/}" ]; then (umask 022 && mkdir -p -- "$dir") || return 1; fi
  tmp="${dir}/.${dest##*/}.bootstrap-$$-$i"
  drained=1
  head -c "$size" > "$tmp" || return 1
  got=$(sha256sum < "$tmp") || return 1
  if [ "${got%% *}" != "$sum" ]; then
    echo "incomplete upload: $(wc -c < "$tmp") of $size bytes received"
    return 1
  fi
  if [ "$owner" != "$me" ]; then chown -- "$owner" "$tmp" || return 1; fi
  if [ "$mode" != 0600 ]; then chmod -- "$mode" "$tmp" || return 1; fi
  sync -- "$tmp" || return 1
  if [ -n "$backup" ] && [ -f "$dest" ]; then ln -f -- "$dest" "$dest$backup" || return 1; fi
  if [ -n "$marker" ]; then
    if [ ! -d PENDING ]; then (umask 022 && mkdir -p PENDING) || return 1; fi
    : >> "PENDING/$marker" || return 1
  fi
  mv -f -- "$tmp" "$dest" || return 1
  tmp=
}
i=0
while [ $# -ge 6 ]; do
  dest=$1 mode=$2 owner=$3 sum=$4 size=$5 marker=$6
  shift 6
  if [ "$sum" = - ]; then sum=$(head -c 64); fi
  drained=
  if install_one; then
    echo "ok $i"
  else
    if [ -n "$tmp" ]; then rm -f -- "$tmp"; tmp=; fi
    if [ -z "$drained" ]; then head -c "$size" > /dev/null; fi
    echo "fail $i"
  fi
  i=$((i + 1))
done
""".replace("PENDING", PENDING)


@dataclass(frozen=True)
class PushOptions:
    ssh: SshOptions = field(default_factory=SshOptions)
    apply: bool = False
    check: bool = False
    backup: bool = False
    ready_timeout: float = 600.0  # how long a role's ready hook may wait on a host


@dataclass
class HostResult:
    """What push did to one host."""

    name: str
    status: str = "unchanged"  # unchanged, changed, would change, failed
    changed: list[str] = field(default_factory=list)
    applied: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    reason: str = ""
    seconds: float = 0.0

    @property
    def failed(self) -> bool:
        return self.status == "failed"

    def describe(self) -> str:
        if self.failed:
            done = f" (after changing {_files(len(self.changed))})" if self.changed else ""
            return f"failed: {self.reason}{done}"
        text = self.status
        if self.status != "unchanged":
            text += f" {_files(len(self.changed))}"
        if self.applied:
            text += f", applied {', '.join(self.applied)}"
        return text

    def as_json(self) -> dict[str, Any]:
        return {"status": self.status, "changed": self.changed, "applied": self.applied,
                "notes": self.notes, "reason": self.reason or None,
                "seconds": round(self.seconds, 3)}


def _files(n: int) -> str:
    return f"{n} file{'s' if n != 1 else ''}"


def push_host(host: FleetHost, registry: Registry, options: PushOptions,
              config: Any = None) -> HostResult:
    """Bring one host's managed files to the build's state; never raises."""
    result = HostResult(host.name)
    started = time.monotonic()
    try:
        _push(host, registry, options, config, result)
    except TransportError as exc:
        result.status, result.reason = "failed", host.redact(str(exc))
    except Exception as exc:  # one host's trouble must not stop the fleet
        result.status = "failed"
        result.reason = host.redact(f"{type(exc).__name__}: {exc}")
    result.seconds = time.monotonic() - started
    return result


def _push(host: FleetHost, registry: Registry, options: PushOptions, config: Any,
          result: HostResult) -> None:
    if host.manifest is None:
        result.status, result.reason = "failed", f"not rendered: {host.not_rendered()}"
        return
    files = host.files
    problem = _check_build(host.folder, files)
    if problem:
        result.status, result.reason = "failed", problem
        return
    session = connect(host.name, host.connection, options.ssh, config)
    try:
        _wait_until_ready(session, host, registry, options.ready_timeout, result)
        if result.failed:
            return
        dests = [f["dest"] for f in files]
        states = _survey(session, dests, clean=not options.check)
        todo = [f for f, state in zip(files, states, strict=True) if state.drift(f)]
        # Render wrote each role's apply command into the manifest; None: a build from before.
        appliers = host.apply
        if options.check:
            result.changed = [f["dest"] for f in todo]
            result.status = "would change" if todo else "unchanged"
            return
        if todo:
            _install(session, host, todo, appliers, options, result)
            if result.failed:
                return
            result.status = "changed"
        if options.apply:
            _apply(session, host, appliers, result)
    finally:
        session.close()


def _check_build(folder: Path, files: list[dict[str, Any]]) -> str:
    """The build must hold exactly what its manifest says, or we would push something else."""
    for record in files:
        path = folder / record["path"]
        try:
            digest = hashlib.sha256(path.read_bytes()).hexdigest()
        except OSError as exc:
            return f"{path}: {exc.strerror}; run: bootstrap render"
        if digest != record["sha256"]:
            return f"{path} does not match its manifest (edited by hand?); run: bootstrap render"
    return ""


def _wait_until_ready(session: Session, host: FleetHost, registry: Registry, timeout: float,
                     result: HostResult) -> None:
    """Each role's ready hook, in the host's role order; the first failure stops the push."""
    ready_host = ReadyHost(host.name, session.run, timeout)
    for name in host.roles:
        wait = registry.get(name).hook("ready")
        if wait is None:
            continue
        ready = wait(ready_host)
        result.notes.extend(ready.notes)
        if ready.failure:
            result.status, result.reason = "failed", ready.failure
            return


def _survey(session: Session, dests: list[str], *, clean: bool) -> list[filestate.FileState]:
    states: list[filestate.FileState] = []
    for batch in filestate.batches(dests, lambda d: filestate.quoted_size([d])):
        outcome = session.run((_CLEAN if clean else "") + filestate.SURVEY, batch)
        if outcome.rc != 0:
            raise TransportError(f"cannot read the managed files (exit {outcome.rc}): "
                                 f"{_tail(outcome.output)}")
        states += filestate.parse(outcome.output, len(batch))
    return states


def _install(session: Session, host: FleetHost, todo: list[dict[str, Any]],
             appliers: dict[str, str] | None, options: PushOptions, result: HostResult) -> None:
    suffix = time.strftime(".%Y%m%dT%H%M%SZ~", time.gmtime()) if options.backup else ""

    def args(record: dict[str, Any]) -> list[str]:
        # Which roles apply is unknown to a build from before render recorded it: every role
        # whose files change is marked, so a push --apply after a new render misses none.
        wanted = appliers is None or appliers.get(record["role"])
        marker = record["role"] if wanted else ""
        digest = "-" if record.get("secret") else record["sha256"]
        return [record["dest"], record["mode"], record["owner"], digest, str(record["size"]),
                marker]

    failures: list[str] = []
    for batch in filestate.batches(todo, lambda r: filestate.quoted_size(args(r))):
        try:
            outcome = session.run(_INSTALL, [suffix, *(a for r in batch for a in args(r))],
                                  stdin=_stream(host.folder, batch))
        except TransportError as exc:
            raise TransportError(f"{exc} while uploading; no partial file is left on the host, "
                                 "run push again") from None
        failures += _installed(outcome, batch, result)
    if failures:
        result.status = "failed"
        result.reason = host.redact("could not install " + "; ".join(failures))


def _installed(outcome: Result, batch: list[dict[str, Any]], result: HostResult) -> list[str]:
    """Read _INSTALL's report: record what was installed, return what was not and why."""
    detail: list[str] = []
    failures = []
    done = 0
    for line in outcome.output.splitlines():
        word, _, index = line.partition(" ")
        if word == "ok" and index.isdigit():
            result.changed.append(batch[int(index)]["dest"])
            done += 1
            detail = []
        elif word == "fail" and index.isdigit():
            failures.append(f"{batch[int(index)]['dest']}: {'; '.join(detail) or 'failed'}")
            detail = []
        elif line.strip():
            detail.append(line.strip())
    if not failures and (outcome.rc != 0 or done != len(batch)):
        failures.append(f"exit {outcome.rc}: {'; '.join(detail) or _tail(outcome.output)}")
    return failures


def _stream(folder: Path, todo: list[dict[str, Any]]) -> Iterator[bytes]:
    for record in todo:
        if record.get("secret"):
            yield record["sha256"].encode()  # 64 hex digits, read before the file
        with open(folder / record["path"], "rb") as handle:
            while chunk := handle.read(_CHUNK):
                yield chunk


def _apply(session: Session, host: FleetHost, appliers: dict[str, str] | None,
           result: HostResult) -> None:
    if appliers is None:
        result.notes.append(f"{host.manifest_path} names no apply commands (written by an "
                            "older bootstrap): nothing applied; run bootstrap render, then "
                            "push --apply again")
        return
    outcome = session.run(_PENDING_LIST)
    lines = outcome.output.splitlines()
    pending = set(lines[lines.index("pending") + 1:]) if "pending" in lines else set()
    # Marks of roles that have nothing to apply (left by a push of an older build) go.
    idle = [f"{PENDING}/{role}" for role in host.roles if role in pending and role not in appliers]
    if idle:
        session.run(f"rm -f -- {shlex.join(idle)}")
    # In the host's role order: a later role may rely on an earlier one's apply.
    for role in host.roles:
        command = appliers.get(role)
        if not command or role not in pending:
            continue
        ran = session.run(command)
        if ran.rc != 0:
            result.status = "failed"
            result.reason = host.redact(f"apply of role {role} failed (exit {ran.rc}): "
                                        f"{_tail(ran.output)}")
            return
        session.run(f"rm -f -- {shlex.quote(f'{PENDING}/{role}')}")
        result.applied.append(role)


def _tail(text: str, lines: int = 5) -> str:
    return " | ".join(line.strip() for line in text.strip().splitlines()[-lines:])
