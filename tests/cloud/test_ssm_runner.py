"""push --via ssm's wait on what moto cannot show: a command still in progress, a command sent
by tag whose instances SSM lists only through ListCommandInvocations (in pages), and a command
that never finishes. The AWS side is a scripted stand-in answering with SSM's own shapes."""

from __future__ import annotations

from typing import Any

import pytest

from bootstrap.cloud.ssm import Runner, send_for
from bootstrap.errors import BootstrapError

STUB = "#!/bin/sh\nM=" + "a" * 64 + " S=" + "b" * 64 + "\n"
SUMMARY = "bootstrap-pull: applied manifest {m}: {n} files replaced, 4 unchanged\n"


class Scripted:
    """Answers each call from a list per operation (the last answer repeats)."""

    def __init__(self, answers: dict[str, list[dict[str, Any]]]) -> None:
        self.answers = answers
        self.calls: list[tuple[str, dict[str, Any]]] = []

    def call(self, service: str, operation: str, missing: tuple[str, ...] = (),
             **params: Any) -> dict[str, Any] | None:
        self.calls.append((operation, params))
        queue = self.answers[operation]
        return queue.pop(0) if len(queue) > 1 else queue[0]


def runner(api: Scripted, give_up: int = 600) -> Runner:
    clock = iter(range(0, 100000, 5))
    # The clock is scripted: give_up is in its seconds, no real time passes.
    return Runner(api, "10%", "1", give_up, sleep=lambda _: None,
                  clock=lambda: float(next(clock)))


def test_a_command_sent_by_tag_is_waited_for_and_its_invocations_listed_in_pages():
    api = Scripted({
        "SendCommand": [{"Command": {"CommandId": "c-1"}}],
        "ListCommands": [{"Commands": [{"Status": "Pending"}]},
                         {"Commands": [{"Status": "InProgress"}]},
                         {"Commands": [{"Status": "Failed", "InstanceIds": []}]}],
        "ListCommandInvocations": [
            {"CommandInvocations": [{"InstanceId": "i-1", "Status": "Success", "CommandPlugins": [
                {"Output": SUMMARY.format(m="a" * 64, n=2)}]}], "NextToken": "t"},
            {"CommandInvocations": [{"InstanceId": "i-2", "Status": "Failed", "CommandPlugins": [
                {"Output": "bootstrap-pull: error: S3 answered HTTP 403 for s3://b/k\n"}]}]},
        ],
    })
    run = runner(api)
    item = send_for("web", STUB, None, None)
    found = run.wait(item, run.send(item))
    assert [o.describe() for o in found] == [
        "changed: 2 files replaced",
        "failed: Failed: bootstrap-pull: error: S3 answered HTTP 403 for s3://b/k"]
    sent = dict(api.calls)["SendCommand"]
    assert sent["Targets"] == [{"Key": "tag:bootstrap:host", "Values": ["web"]}]
    assert sent["Comment"] == "bootstrap pull web " + "a" * 12
    pages = [p for op, p in api.calls if op == "ListCommandInvocations"]
    assert pages == [{"CommandId": "c-1", "Details": True},
                     {"CommandId": "c-1", "Details": True, "NextToken": "t"}]
    assert [op for op, _ in api.calls].count("ListCommands") == 3


def test_a_launch_template_host_is_sent_by_its_template_tag():
    item = send_for("app", STUB, None, "app-template")
    assert item.params("5", "10%", 900)["Targets"] == [
        {"Key": "tag:bootstrap:template", "Values": ["app-template"]}]


def test_a_command_that_never_finishes_is_an_error_naming_it():
    api = Scripted({"SendCommand": [{"Command": {"CommandId": "c-9"}}],
                    "ListCommands": [{"Commands": [{"Status": "InProgress"}]}]})
    run = runner(api, give_up=60)
    item = send_for("web", STUB, "i-0123456789abcdef0", None)
    with pytest.raises(BootstrapError) as caught:
        run.wait(item, run.send(item))
    assert "command c-9 still InProgress after 60 s" in caught.value.message


def test_a_command_sent_by_id_reports_that_instance_only():
    """The command's own record may list more instances (moto's does); the host's row is the
    instance it was sent to."""
    api = Scripted({
        "SendCommand": [{"Command": {"CommandId": "c-3"}}],
        "ListCommands": [{"Commands": [{"Status": "Success",
                                        "InstanceIds": ["i-0aaaaaaaaaaaaaaaa", "i-1"]}]}],
        "GetCommandInvocation": [{"InstanceId": "i-1", "Status": "Success",
                                  "StandardOutputContent": SUMMARY.format(m="a" * 64, n=1)}],
    })
    run = runner(api)
    item = send_for("web", STUB, "i-1", None)
    found = run.wait(item, run.send(item))
    assert [(o.instance, o.describe()) for o in found] == [("i-1", "changed: 1 file replaced")]
    asked = [p["InstanceId"] for op, p in api.calls if op == "GetCommandInvocation"]
    assert asked == ["i-1"]
