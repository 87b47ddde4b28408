"""``bootstrap push --via ssm``: publish, then SSM Run Command runs each host's pull.

For each selected host the build holds the pull command (the build output ``pull.sh``, written
by the role that delivers by pulling: the same text its user-data runs at first boot, pinning
the manifest just published). One ``SendCommand`` of ``AWS-RunShellScript`` per host sends it:

- to the instance by id when the inventory knows it (``ec2_instance_id``, which
  ``bootstrap launch --write-inventory`` records), else
- to every instance tagged ``bootstrap:host=<host>`` (``bootstrap:template=<name>`` for a host
  that stands for a launch template): SSM resolves the tag, however many instances carry it.

``MaxConcurrency`` and ``MaxErrors`` carry Ansible's ``serial`` and ``max_fail_percentage``
meaning: how many instances run at once, and how many may fail before SSM sends no more. Then
it waits for every invocation and reports each instance as push over SSH does: changed (with
the count of files replaced), unchanged, or failed with the pull's last line.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from bootstrap.cloud.client import Api
from bootstrap.errors import BootstrapError

DOCUMENT = "AWS-RunShellScript"
PULL_COMMAND = "pull.sh"  # the build output with the host's pull command
HOST_TAG, TEMPLATE_TAG = "bootstrap:host", "bootstrap:template"
# Command states after which nothing more happens (SSM's Command.Status values).
FINISHED = frozenset({"Success", "Failed", "TimedOut", "Cancelled", "DeliveryTimedOut",
                      "ExecutionTimedOut", "Undeliverable", "Terminated", "InvalidPlatform",
                      "AccessDenied"})
_RATE = re.compile(r"([1-9][0-9]*)%?")
_REPLACED = re.compile(r"(\d+) files replaced, (\d+) unchanged")


def rate(text: str) -> str:
    """A MaxConcurrency or MaxErrors value: a count or a percentage (``10``, ``25%``)."""
    found = _RATE.fullmatch(text)
    if not found or (text.endswith("%") and int(found.group(1)) > 100):
        raise ValueError(f"{text!r} is not a count or a percentage such as 10 or 25%")
    return text


@dataclass(frozen=True)
class Send:
    """One host's command: where it goes and the pull it runs."""

    host: str
    script: str
    manifest: str  # the sha256 the pull pins, for the comment and the report
    instance_ids: tuple[str, ...] = ()
    tag: tuple[str, str] | None = None  # (key, value) when sent by tag

    def params(self, concurrency: str, errors: str, timeout: int) -> dict[str, Any]:
        """The SendCommand parameters, as sent."""
        params: dict[str, Any] = {
            "DocumentName": DOCUMENT,
            "Comment": f"bootstrap pull {self.host} {self.manifest[:12]}"[:100],
            "Parameters": {"commands": [self.script], "executionTimeout": [str(timeout)]},
            "MaxConcurrency": concurrency,
            "MaxErrors": errors,
            "TimeoutSeconds": max(30, min(timeout, 2592000)),
        }
        if self.instance_ids:
            params["InstanceIds"] = list(self.instance_ids)
        else:
            assert self.tag is not None
            params["Targets"] = [{"Key": f"tag:{self.tag[0]}", "Values": [self.tag[1]]}]
        return params


def send_for(host: str, script: str, instance_id: str | None,
             launch_template: str | None) -> Send:
    """What to send a host: by instance id if known, else by its tag."""
    digest = re.search(r"\bM=([0-9a-f]{64})\b", script)
    manifest = digest.group(1) if digest else ""
    if instance_id:
        return Send(host, script, manifest, instance_ids=(instance_id,))
    tag = (TEMPLATE_TAG, launch_template) if launch_template else (HOST_TAG, host)
    return Send(host, script, manifest, tag=tag)


@dataclass
class Outcome:
    """One instance's invocation, as push reports a host."""

    host: str
    instance: str
    status: str  # changed, unchanged, failed
    replaced: int = 0
    reason: str = ""
    seconds: float = 0.0

    @property
    def failed(self) -> bool:
        return self.status == "failed"

    def describe(self) -> str:
        if self.status == "failed":
            return f"failed: {self.reason}"
        if self.status == "changed":
            return f"changed: {self.replaced} file{'' if self.replaced == 1 else 's'} replaced"
        return f"unchanged ({self.reason})" if self.reason else "unchanged"

    def as_json(self) -> dict[str, Any]:
        return {"host": self.host, "instance": self.instance, "status": self.status,
                "replaced": self.replaced, "reason": self.reason,
                "seconds": round(self.seconds, 2)}


def outcome(host: str, invocation: dict[str, Any], seconds: float) -> Outcome:
    """An invocation's result from its status and the pull's own last lines."""
    instance = str(invocation.get("InstanceId", "?"))
    text = f"{invocation.get('StandardOutputContent') or ''}\n" \
           f"{invocation.get('StandardErrorContent') or ''}"
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    status = str(invocation.get("Status", ""))
    if status != "Success":
        errors = [line for line in lines if "error:" in line]
        reason = (errors or lines or [str(invocation.get("StatusDetails") or status)])[-1]
        return Outcome(host, instance, "failed", reason=f"{status}: {reason}"
                       if errors or lines else reason, seconds=seconds)
    found = [m for m in (_REPLACED.search(line) for line in lines) if m]
    replaced = int(found[-1].group(1)) if found else 0
    return Outcome(host, instance, "changed" if replaced else "unchanged", replaced=replaced,
                   reason="" if found else "no pull summary in its output", seconds=seconds)


@dataclass
class Runner:
    """Sends each host's command and waits for its invocations."""

    api: Api
    concurrency: str
    errors: str
    timeout: int
    poll: float = 2.0
    sleep: Callable[[float], None] = time.sleep
    clock: Callable[[], float] = time.monotonic
    sent: list[tuple[Send, str]] = field(default_factory=list)  # (send, command id)

    def send(self, item: Send) -> str:
        answer = self.api.call("ssm", "SendCommand",
                               **item.params(self.concurrency, self.errors, self.timeout)) or {}
        command_id = str((answer.get("Command") or {}).get("CommandId", ""))
        if not command_id:
            raise BootstrapError("SendCommand answered without a command id", host=item.host)
        self.sent.append((item, command_id))
        return command_id

    def wait(self, item: Send, command_id: str) -> list[Outcome]:
        """Every invocation of the command once it has finished (or the timeout passed)."""
        started = self.clock()
        while True:
            found = (self.api.call("ssm", "ListCommands", CommandId=command_id) or {}
                     ).get("Commands") or []
            command = found[0] if found else {}
            if command.get("Status") in FINISHED:
                break
            if self.clock() - started > self.timeout:
                raise BootstrapError(f"command {command_id} still {command.get('Status')} after "
                                     f"{self.timeout} s; see it with aws ssm list-command-"
                                     f"invocations --command-id {command_id}", host=item.host)
            self.sleep(self.poll)
        seconds = self.clock() - started
        return [outcome(item.host, invocation, seconds)
                for invocation in self._invocations(item, command, command_id)]

    def _invocations(self, item: Send, command: dict[str, Any],
                     command_id: str) -> list[dict[str, Any]]:
        # Sent by id: the invocations are those instances' (an answer listing others is not
        # about this host).
        ids = [str(i) for i in item.instance_ids or command.get("InstanceIds") or []]
        if ids:
            return [self.api.call("ssm", "GetCommandInvocation", CommandId=command_id,
                                  InstanceId=i) or {"InstanceId": i} for i in sorted(ids)]
        # Sent by tag: SSM lists who it reached.
        out: list[dict[str, Any]] = []
        token: str | None = None
        while True:
            params: dict[str, Any] = {"CommandId": command_id, "Details": True}
            if token:
                params["NextToken"] = token
            page = self.api.call("ssm", "ListCommandInvocations", **params) or {}
            for invocation in page.get("CommandInvocations") or []:
                plugins = invocation.get("CommandPlugins") or [{}]
                out.append({**invocation,
                            "StandardOutputContent": plugins[0].get("Output", ""),
                            "StandardErrorContent": ""})
            token = page.get("NextToken")
            if not token:
                return out
