"""cloud_init.notify: one SNS message with the result of the first boot.

The notice runs here for real, without containers: the host's rendered user-data scripts (the
notice's and a role's) are run by cloud-init's own code (``runparts`` and the status writer of
the installed cloud-init, which writes result.json as on an instance), the notice's background
copy signs its Publish with a role's credentials from a loopback IMDSv2 stub, and moto in
server mode checks the signature and the role's IAM policy. The message is read back through
an SQS queue subscribed to the topic.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml
from support import moto as motolib
from support import waits
from support.cli import one_error, run_cli
from support.cloud import BUCKET, REGION
from support.imds import INSTANCE_ID, Imds
from support.moto import FaultProxy
from support.userdata import cloud_config, materialize, parts, render

ACCOUNT = "123456789012"
TOPIC = "boot-notices"
TOPIC_ARN = f"arn:aws:sns:{REGION}:{ACCOUNT}:{TOPIC}"
SCRIPT = "files/usr/local/sbin/bootstrap-notify"
ROLES = ["cloud-init", "app"]
# A role of the inventory with one user-data script: it fails when /tmp/...fail exists.
APP_ROLE = {
    "roles/app/role.yml": "artifacts:\n  - template: app/setup.sh.j2\n"
                          "    dest: /usr/local/sbin/app-setup\n    mode: \"0755\"\n"
                          "    userdata: script\n",
    "templates/app/setup.sh.j2": "#!/bin/sh\necho 'app: installing'\n"
                                 "if [ -e \"$APP_FAIL\" ]; then\n"
                                 "  echo 'app: error: the package repository is unreachable' >&2\n"
                                 "  exit 3\nfi\necho 'app: ready'\n",
}
# cloud-init's final stage, by cloud-init's own code: the scripts run by runparts (one failing
# does not stop the others), errors recorded as the modules runner records them, status.json
# and result.json written by cloud-init's status writer.
FIRST_BOOT = """
import sys, types
from cloudinit import subp
from cloudinit.cmd import main

scripts, data_dir, run_dir = sys.argv[1:4]

def stage(errors):
    return lambda name, args: errors

def final(name, args):
    try:
        subp.runparts(scripts)
    except Exception as exc:
        return [("scripts_user", exc)]
    return []

for name, local, mode, functor in (("init", True, None, stage((None, []))),
                                   ("init", False, None, stage((None, []))),
                                   ("modules", False, "config", stage([])),
                                   ("modules", False, "final", final)):
    args = types.SimpleNamespace(action=(name, functor), local=local, mode=mode)
    main.status_wrapper(name, args, data_d=data_dir, link_d=run_dir)
"""

pytestmark = pytest.mark.skipif(shutil.which("shellcheck") is None, reason="needs shellcheck")


def write_inventory(tmp: Path, notify: Any = None, *, aws: dict[str, Any] | None = None,
                    roles: list[str] = ROLES) -> Path:
    inv = tmp / "inv"
    for rel, text in APP_ROLE.items():
        (inv / rel).parent.mkdir(parents=True, exist_ok=True)
        (inv / rel).write_text(text)
    host: dict[str, Any] = {}
    if notify is not None:
        host["cloud_init"] = {"notify": notify}
    if aws is not None:
        host["aws"] = aws
    doc = {"all": {"vars": {"os_family": "debian", "bootstrap_roles": roles},
                   "hosts": {"web01": host}}}
    (inv / "hosts.yml").write_text(yaml.safe_dump(doc, sort_keys=False))
    return inv


# -- the build ---------------------------------------------------------------------------------


def test_the_rendered_notify_script_passes_shellcheck(tmp_path):
    out = render(write_inventory(tmp_path, {"sns_topic_arn": TOPIC_ARN}), tmp_path / "build")
    checked = subprocess.run(["shellcheck", "--format=gcc", str(out / "web01" / SCRIPT)],
                             capture_output=True, text=True)
    assert checked.returncode == 0, checked.stdout


def test_the_notice_is_one_script_part_of_the_user_data(tmp_path):
    out = render(write_inventory(tmp_path, {"sns_topic_arn": TOPIC_ARN}), tmp_path / "build")
    found = parts((out / "web01/user-data").read_bytes())
    scripts = [(name, content) for name, kind, content in found if kind == "text/x-shellscript"]
    assert [name for name, _ in scripts] == ["01-cloud-init-bootstrap-notify",
                                            "02-app-app-setup"]
    # The part runs the script that write_files installs where push would put it.
    assert scripts[0][1] == b"#!/bin/sh\nexec /usr/local/sbin/bootstrap-notify\n"
    config = cloud_config((out / "web01/user-data").read_bytes())
    [installed] = [f for f in config["write_files"]
                   if f["path"] == "/usr/local/sbin/bootstrap-notify"]
    assert installed["content"].encode() == (out / "web01" / SCRIPT).read_bytes()
    assert installed["permissions"] == "0o755"
    assert f"readonly TOPIC_ARN={TOPIC_ARN}\n" in installed["content"]
    # phone_home stays what it is: the notice adds no cloud-config key.
    assert "phone_home" not in config and "notify" not in config


def test_user_data_without_notify_is_unchanged(tmp_path):
    out = render(write_inventory(tmp_path, roles=["cloud-init"]), tmp_path / "build")
    assert (out / "web01/user-data").read_bytes() == b"#cloud-config\nhostname: web01\n"
    assert not (out / "web01/files").exists()
    assert not (out / "_fleet").exists() or not list((out / "_fleet").rglob("notify-*"))
    with_app = render(write_inventory(tmp_path / "app"), tmp_path / "build2")
    names = [n for n, _, _ in parts((with_app / "web01/user-data").read_bytes())]
    assert names == ["cloud-config.yaml", "01-app-app-setup"]
    assert b"bootstrap-notify" not in (with_app / "web01/user-data.txt").read_bytes()


# -- the policy --------------------------------------------------------------------------------


def policy_files(out: Path) -> dict[str, Any]:
    return {p.name: json.loads(p.read_text()) for p in (out / "_fleet/iam").glob("notify-*")}


def test_the_policy_is_publish_on_that_topic_only(tmp_path):
    out = render(write_inventory(tmp_path, {"sns_topic_arn": TOPIC_ARN}), tmp_path / "build")
    files = policy_files(out)
    [name] = [n for n in files if n.endswith(".policy.json")]
    assert name.startswith(f"notify-{TOPIC}-") and len(name.removesuffix(".policy.json")) <= 64
    assert files[name] == {"Version": "2012-10-17", "Statement": [{
        "Sid": "PublishCompletionNotice", "Effect": "Allow", "Action": "sns:Publish",
        "Resource": TOPIC_ARN}]}
    trust = files[name.replace(".policy.", ".trust.")]
    assert trust["Statement"][0]["Principal"] == {"Service": "ec2.amazonaws.com"}
    # The script names that policy when the instance has no role.
    assert f"_fleet/iam/{name}" in (out / "web01" / SCRIPT).read_text()


def test_two_topics_of_one_name_get_two_policies(tmp_path):
    inv = write_inventory(tmp_path, {"sns_topic_arn": TOPIC_ARN})
    doc = yaml.safe_load((inv / "hosts.yml").read_text())
    doc["all"]["hosts"]["web02"] = {"cloud_init": {"notify": {
        "sns_topic_arn": TOPIC_ARN.replace(ACCOUNT, "210987654321")}}}
    (inv / "hosts.yml").write_text(yaml.safe_dump(doc, sort_keys=False))
    files = policy_files(render(inv, tmp_path / "build"))
    resources = sorted(d["Statement"][0]["Resource"] for n, d in files.items()
                       if n.endswith(".policy.json"))
    assert resources == sorted([TOPIC_ARN, TOPIC_ARN.replace(ACCOUNT, "210987654321")])


def test_the_policy_is_clean_for_parliament(tmp_path):
    out = render(write_inventory(tmp_path, {"sns_topic_arn": TOPIC_ARN}), tmp_path / "build")
    [name] = [n for n in policy_files(out) if n.endswith(".policy.json")]
    report = run_cli("validate", out)
    assert f"ok   _fleet iam/{name} (parliament)" in report.out, report.out


# -- bad settings ------------------------------------------------------------------------------


@pytest.mark.parametrize(("notify", "key", "words"), [
    ({"sns_topic_arn": "boot-notices"}, "cloud_init.notify.sns_topic_arn",
     "is not an SNS topic ARN"),
    ({"sns_topic_arn": f"arn:aws:sqs:{REGION}:{ACCOUNT}:{TOPIC}"},
     "cloud_init.notify.sns_topic_arn", "is not an SNS topic ARN"),
    ({"sns_topic_arn": f"arn:aws:sns:{REGION}:1234:{TOPIC}"},
     "cloud_init.notify.sns_topic_arn", "is not an SNS topic ARN"),
    ({"sns_topic_arn": f"arn:aws:sns:{REGION}:{ACCOUNT}:{TOPIC}'; reboot"},
     "cloud_init.notify.sns_topic_arn", "is not an SNS topic ARN"),
    ({"sns_topic_arn": f"arn:aws-cn:sns:{REGION}:{ACCOUNT}:{TOPIC}"},
     "cloud_init.notify.sns_topic_arn", "is in partition aws, not aws-cn"),
    ({"sns_topic_arn": f"arn:aws:sns:cn-north-1:{ACCOUNT}:{TOPIC}"},
     "cloud_init.notify.sns_topic_arn", "is in partition aws-cn, not aws"),
    ({"sns_topic_arn": f"{TOPIC_ARN}.fifo"}, "cloud_init.notify.sns_topic_arn", "FIFO topic"),
    ({"sns_topic_arn": TOPIC_ARN, "on": ["done"]}, "cloud_init.notify.on.0", "done"),
    ({"sns_topic_arn": TOPIC_ARN, "on": []}, "cloud_init.notify.on", ""),
    ({"sns_topic_arn": TOPIC_ARN, "on": ["success", "success"]}, "cloud_init.notify.on",
     "twice"),
    ({"on": ["success"]}, "cloud_init.notify.sns_topic_arn", ""),
    ({"sns_topic_arn": TOPIC_ARN, "email": "ops@example.com"}, "cloud_init.notify.email", ""),
    ({"sns_topic_arn": TOPIC_ARN, "email": ["ops"]}, "cloud_init.notify.email.0",
     "is not a valid e-mail address"),
    ({"sns_topic_arn": TOPIC_ARN, "email": ["ops@example.com\nBcc: all@example.com"]},
     "cloud_init.notify.email.0", "is not a valid e-mail address"),
    ({"sns_topic_arn": TOPIC_ARN, "create": "yes please"}, "cloud_init.notify.create", ""),
])
def test_a_bad_notify_setting_is_an_error_naming_the_key(tmp_path, notify, key, words):
    inv = write_inventory(tmp_path, notify)
    line = one_error(run_cli("render", inv, "-o", tmp_path / "build"))
    assert "hosts.yml:" in line and "host web01:" in line, line
    assert f"key {key}:" in line and words in line, line
    assert not (tmp_path / "build").exists()


def test_a_plain_yaml_on_key_means_on(tmp_path):
    # YAML 1.1 reads a plain `on` as the boolean true.
    inv = write_inventory(tmp_path)
    (inv / "hosts.yml").write_text(
        "all:\n  vars: {os_family: debian, bootstrap_roles: [cloud-init, app]}\n  hosts:\n"
        "    web01:\n      cloud_init:\n        notify:\n"
        f"          sns_topic_arn: {TOPIC_ARN}\n          on: [failure]\n")
    out = render(inv, tmp_path / "build")
    assert "readonly NOTIFY_ON=failure\n" in (out / "web01" / SCRIPT).read_text()
    text = (inv / "hosts.yml").read_text().replace("on: [failure]", "on: [done]")
    (inv / "hosts.yml").write_text(text)
    one_error(run_cli("render", inv, "-o", tmp_path / "build2"), "host web01:",
              "key cloud_init.notify.on.0:", "'done'")


def test_a_topic_in_another_region_than_the_instance_is_an_error(tmp_path):
    inv = write_inventory(tmp_path, {"sns_topic_arn": TOPIC_ARN.replace(REGION, "us-east-1")},
                          aws={"region": REGION, "ami": "ami-0d1e2b3c4a5f60718"},
                          roles=[*ROLES, "ec2-instance"])
    text = (inv / "hosts.yml").read_text()
    line = one_error(run_cli("render", inv, "-o", tmp_path / "build"))
    number = next(n for n, row in enumerate(text.splitlines(), 1) if "sns_topic_arn" in row)
    assert f"hosts.yml:{number}: host web01: key cloud_init.notify.sns_topic_arn:" in line, line
    assert f"the topic is in us-east-1 and the instance in {REGION}" in line
    assert not (tmp_path / "build").exists()


# -- the first boot, run here: cloud-init's own runparts and status writer, moto SNS -----------


@dataclass
class Boot:
    notices: list[dict[str, Any]]  # the SNS envelopes that reached the queue
    log: str  # the notice's own log
    credentials: dict[str, Any]
    url: str  # moto's
    server: motolib.MotoServer

    def authenticate(self, on: bool) -> None:
        self.server.authenticate_after(0 if on else None)


def receive(sqs: Any, queue: str) -> list[dict[str, Any]]:
    """Every SQS message there is: moto delivers a Publish to its subscribers before it
    answers, so once the notice's log says it published, its message is in the queue."""
    got: list[dict[str, Any]] = []
    for _ in range(3):
        answer = sqs.receive_message(QueueUrl=queue, MaxNumberOfMessages=10, WaitTimeSeconds=1)
        for message in answer.get("Messages", []):
            got.append(json.loads(message["Body"]))
            sqs.delete_message(QueueUrl=queue, ReceiptHandle=message["ReceiptHandle"])
    return got


# moto checks a Publish against the role's policy with the resource "*" (its SNS handler names
# no resource), which no policy limited to one topic allows. AWS checks the topic itself: this
# makes moto do so too, in the moto server of this module only.
SNS_RESOURCE = """
from moto.sns.responses import SNSResponse

def _determine_resource(self):
    return self._get_param("TopicArn") or "*"

SNSResponse._determine_resource = _determine_resource
"""


@pytest.fixture(scope="module")
def sns_moto(tmp_path_factory: pytest.TempPathFactory) -> Iterator[motolib.MotoServer]:
    if motolib.available():
        pytest.skip(f"moto: {motolib.available()}")
    site = tmp_path_factory.mktemp("moto-site")
    (site / "sitecustomize.py").write_text(SNS_RESOURCE)
    path = os.pathsep.join(p for p in (str(site), os.environ.get("PYTHONPATH", "")) if p)
    with motolib.moto_server(site / "moto.log", env={"PYTHONPATH": path}) as server:
        yield server


@pytest.fixture
def first_boot(sns_moto: motolib.MotoServer, tmp_path: Path) -> Iterator[Any]:
    """Render web01 with ``notify``, set up what launch does (the role with the build's policy)
    plus the topic and an SQS queue subscribed to it, then run the first boot's final stage."""
    servers: list[Imds] = []
    moto = sns_moto

    def run(notify: dict[str, Any], *, fail: bool = False, timeout: str | None = None,
            policy_arn: str | None = None, aws: dict[str, Any] | None = None) -> Boot:
        work = tmp_path / f"boot{len(servers)}"
        work.mkdir()
        moto.reset()
        moto.authenticate_after(None)
        roles = ROLES if aws is None else [*ROLES, "ec2-instance"]
        out = render(write_inventory(work, notify, aws=aws, roles=roles), work / "build")
        sns = motolib.admin_client("sns", moto.url)
        sqs = motolib.admin_client("sqs", moto.url)
        for arn in {TOPIC_ARN, notify["sns_topic_arn"]}:
            sns.create_topic(Name=arn.split(":")[5])
        queue = sqs.create_queue(QueueName="notices")["QueueUrl"]
        queue_arn = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])[
            "Attributes"]["QueueArn"]
        sns.subscribe(TopicArn=notify["sns_topic_arn"], Protocol="sqs", Endpoint=queue_arn)
        iam = motolib.admin_client("iam", moto.url)
        [name] = [p.name.removesuffix(".policy.json")
                  for p in (out / "_fleet/iam").glob("notify-*.policy.json")]
        role = iam.create_role(RoleName=name, AssumeRolePolicyDocument=(
            out / "_fleet/iam" / f"{name}.trust.json").read_text())["Role"]
        policy = json.loads((out / "_fleet/iam" / f"{name}.policy.json").read_text())
        if policy_arn is not None:  # a role allowed another topic only
            policy["Statement"][0]["Resource"] = policy_arn
        iam.put_role_policy(RoleName=name, PolicyName=name, PolicyDocument=json.dumps(policy))
        credentials = motolib.admin_client("sts", moto.url).assume_role(
            RoleArn=role["Arn"], RoleSessionName=INSTANCE_ID)["Credentials"]
        imds = Imds(role=name, credentials=credentials)
        servers.append(imds)
        # What cloud-init writes: the files (the scripts at their dest) and each script part.
        scripts = work / "instance" / "scripts"
        materialize((out / "web01/user-data").read_bytes(), work / "root", scripts)
        run_dir = work / "run-cloud-init"
        output_log = work / "cloud-init-output.log"
        notify_log = work / "bootstrap-notify.log"
        fail_flag = work / "app-fail"
        if fail:
            fail_flag.touch()
        env = {**os.environ, "BOOTSTRAP_IMDS_ENDPOINT": imds.url,
               "BOOTSTRAP_SNS_ENDPOINT": moto.url, "BOOTSTRAP_ATTEMPTS": "2",
               "BOOTSTRAP_RETRY_DELAY": "0", "BOOTSTRAP_CLOUD_INIT_RUN": str(run_dir),
               "BOOTSTRAP_CLOUD_INIT_LOG": str(output_log),
               "BOOTSTRAP_NOTIFY_LOG": str(notify_log), "APP_FAIL": str(fail_flag),
               "TMPDIR": str(work)}
        if timeout is not None:
            env["BOOTSTRAP_NOTIFY_TIMEOUT"] = timeout
            run_dir.mkdir()
        moto.authenticate_after(0)
        if timeout is None:
            with output_log.open("wb") as log:
                stage = subprocess.run(["/usr/bin/python3", "-c", FIRST_BOOT, str(scripts),
                                        str(work / "data"), str(run_dir)], env=env, stdout=log,
                                       stderr=subprocess.STDOUT, timeout=waits.allowance(60))
            assert stage.returncode == 0, output_log.read_text()
        else:
            output_log.write_text("still installing\n")
            subprocess.run([str(scripts / "01-cloud-init-bootstrap-notify")], env=env, check=True,
                           timeout=waits.allowance(30))
        wait_for_log(notify_log)
        moto.authenticate_after(None)
        notices = receive(sqs, queue)
        return Boot(notices, notify_log.read_text(), credentials, moto.url, moto)

    yield run
    moto.authenticate_after(None)
    for imds in servers:
        imds.stop()


def wait_for_log(log: Path) -> None:
    """Until the background copy has said its last word (published, skipped or failed)."""
    def done() -> bool:
        text = log.read_text() if log.exists() else ""
        return "published to" in text or "not published" in text or "error:" in text

    waits.wait_for("the notice's background copy", done, 30, interval=0.2)


def test_cloud_init_is_available_here():
    checked = subprocess.run(["/usr/bin/python3", "-c", "import cloudinit.cmd.main"],
                             capture_output=True, text=True)
    assert checked.returncode == 0, checked.stderr


def test_a_successful_first_boot_publishes_one_message_with_every_field(first_boot):
    boot = first_boot({"sns_topic_arn": TOPIC_ARN})
    assert len(boot.notices) == 1, boot.log
    [envelope] = boot.notices
    assert envelope["TopicArn"] == TOPIC_ARN
    assert envelope["Subject"] == f"bootstrap: first boot of web01 ({INSTANCE_ID}) succeeded"
    message = json.loads(envelope["Message"])
    duration = message.pop("duration_seconds")
    assert isinstance(duration, float) and 0 <= duration < waits.allowance(60)
    assert message == {"instance_id": INSTANCE_ID, "host": "web01", "launch_template": None,
                       "roles": ROLES, "result": "success"}
    assert "first boot: success; published to " + TOPIC_ARN in boot.log
    assert boot.credentials["SecretAccessKey"] not in boot.log


def test_a_failing_role_script_publishes_one_failure_with_its_step_and_output(first_boot):
    boot = first_boot({"sns_topic_arn": TOPIC_ARN}, fail=True)
    assert len(boot.notices) == 1, boot.log
    [envelope] = boot.notices
    assert envelope["Subject"] == f"bootstrap: first boot of web01 ({INSTANCE_ID}) failed"
    message = json.loads(envelope["Message"])
    assert message["result"] == "failure"
    assert message["instance_id"] == INSTANCE_ID and message["host"] == "web01"
    assert message["roles"] == ROLES and isinstance(message["duration_seconds"], float)
    assert message["failed_step"] == "script 02-app-app-setup"
    assert "Runparts: 1 failures (02-app-app-setup) in 2 attempted commands" in \
        message["errors"][0]
    assert message["output_tail"][-2:] == ["app: installing",
                                           "app: error: the package repository is unreachable"]


def test_a_launch_template_names_itself_in_the_notice(first_boot):
    boot = first_boot({"sns_topic_arn": TOPIC_ARN}, fail=True, aws={
        "launch_template": "app-tier", "region": REGION, "ami": "ami-0d1e2b3c4a5f60718"})
    [envelope] = boot.notices
    message = json.loads(envelope["Message"])
    assert message["launch_template"] == "app-tier" and message["host"] == "web01"
    assert message["roles"] == [*ROLES, "ec2-instance"]
    assert message["instance_id"] == INSTANCE_ID and message["result"] == "failure"


def test_a_boot_that_never_finishes_is_reported_as_failed(first_boot):
    boot = first_boot({"sns_topic_arn": TOPIC_ARN}, timeout="0")
    [envelope] = boot.notices
    message = json.loads(envelope["Message"])
    assert message["result"] == "failure"
    assert message["errors"] == ["cloud-init did not finish within 0 seconds (stage unknown)"]
    assert message["output_tail"] == ["still installing"]


def test_on_failure_only_keeps_a_success_quiet(first_boot):
    boot = first_boot({"sns_topic_arn": TOPIC_ARN, "on": ["failure"]})
    assert boot.notices == []
    assert "first boot: success; not published (notify.on: failure)" in boot.log
    boot = first_boot({"sns_topic_arn": TOPIC_ARN, "on": ["failure"]}, fail=True)
    assert [json.loads(n["Message"])["result"] for n in boot.notices] == ["failure"]


def test_a_role_without_the_policy_is_refused_and_says_which_policy(first_boot):
    other = TOPIC_ARN.replace(TOPIC, "someone-elses")
    boot = first_boot({"sns_topic_arn": TOPIC_ARN}, policy_arn=other)
    assert boot.notices == []
    assert "SNS answered 403" in boot.log and "may not publish to it" in boot.log, boot.log
    assert "_fleet/iam/notify-boot-notices-" in boot.log


def test_the_role_may_publish_to_its_topic_only(first_boot):
    boot = first_boot({"sns_topic_arn": TOPIC_ARN})
    assert len(boot.notices) == 1, boot.log
    import boto3

    role_sns = boto3.client("sns", endpoint_url=boot.url, region_name=REGION,
                            aws_access_key_id=boot.credentials["AccessKeyId"],
                            aws_secret_access_key=boot.credentials["SecretAccessKey"],
                            aws_session_token=boot.credentials["SessionToken"])
    admin = motolib.admin_client("sns", boot.url)
    other = admin.create_topic(Name="someone-elses")["TopicArn"]
    boot.authenticate(True)
    try:
        role_sns.publish(TopicArn=TOPIC_ARN, Message="allowed")
        with pytest.raises(role_sns.exceptions.ClientError, match="AccessDenied"):
            role_sns.publish(TopicArn=other, Message="not allowed")
        with pytest.raises(role_sns.exceptions.ClientError, match="AccessDenied"):
            role_sns.create_topic(Name="new-topic")
    finally:
        boot.authenticate(False)


# -- launch ------------------------------------------------------------------------------------


def test_launch_gives_the_instance_role_the_publish_policy(cloud):
    inv = write_inventory(cloud.tmp, {"sns_topic_arn": TOPIC_ARN},
                          aws={"ami": cloud.ami, "region": REGION},
                          roles=[*ROLES, "ec2-instance"])
    cloud.render(inv)
    [name] = [p.name.removesuffix(".policy.json")
              for p in (cloud.build / "_fleet/iam").glob("notify-*.policy.json")]
    result = cloud.launch(inv, "web01")
    assert result.rc == 0, result.err
    iam = cloud.client("iam")
    assert iam.list_role_policies(RoleName=name)["PolicyNames"] == [name]
    policy = iam.get_role_policy(RoleName=name, PolicyName=name)["PolicyDocument"]
    assert policy["Statement"] == [{"Sid": "PublishCompletionNotice", "Effect": "Allow",
                                    "Action": "sns:Publish", "Resource": TOPIC_ARN}]
    [instance] = cloud.instances("web01")
    profile = instance["IamInstanceProfile"]["Arn"]
    roles = iam.get_instance_profile(InstanceProfileName=profile.rsplit("/", 1)[1])[
        "InstanceProfile"]["Roles"]
    assert [r["RoleName"] for r in roles] == [name]


def test_a_host_with_two_policies_names_its_instance_role(cloud):
    """The notice's policy and Puppet's password policy: one instance role carries both, and
    launch asks for its name (aws.iam_role) rather than naming it after one of them."""
    inv = write_inventory(cloud.tmp, {"sns_topic_arn": TOPIC_ARN},
                          aws={"ami": cloud.ami, "region": REGION},
                          roles=["cloud-init", "puppet-agent", "ec2-instance"])
    (inv / "secrets").mkdir()
    (inv / "secrets" / "challenge").write_text("s3cret\n")
    doc = yaml.safe_load((inv / "hosts.yml").read_text())
    doc["all"]["hosts"]["web01"]["puppet"] = {
        "server": "puppet.example.internal", "challenge_password": {"file": "secrets/challenge"},
        "s3": {"bucket": BUCKET, "prefix": "puppet/fleet", "region": REGION}}
    (inv / "hosts.yml").write_text(yaml.safe_dump(doc, sort_keys=False))
    cloud.render(inv)
    line = one_error(cloud.launch(inv, "web01"), "host web01:", "key aws.iam_role:",
                     "notify-boot-notices-", quiet=False)
    assert "s3cret" not in line
    doc["all"]["hosts"]["web01"]["aws"]["iam_role"] = "web-node"
    (inv / "hosts.yml").write_text(yaml.safe_dump(doc, sort_keys=False))
    cloud.render(inv)
    result = cloud.launch(inv, "web01")
    assert result.rc == 0, result.err
    names = cloud.client("iam").list_role_policies(RoleName="web-node")["PolicyNames"]
    assert len(names) == 2 and any(n.startswith("notify-boot-notices-") for n in names)
    assert any(n.startswith("puppet-") for n in names)


def test_launch_creates_the_topic_and_subscribes_each_address_once(cloud):
    notify = {"sns_topic_arn": TOPIC_ARN, "create": True,
              "email": ["ops@example.com", "oncall@example.com"]}
    inv = write_inventory(cloud.tmp, notify, aws={"ami": cloud.ami, "region": REGION},
                          roles=[*ROLES, "ec2-instance"])
    cloud.render(inv)
    dry = cloud.launch(inv, "web01", "--dry-run")
    assert dry.rc == 0, dry.err
    assert f"sns:CreateTopic Name={TOPIC}" in dry.out, dry.out
    assert f"sns:Subscribe TopicArn={TOPIC_ARN} Protocol=email Endpoint=ops@example.com" in dry.out
    sns = cloud.client("sns")
    assert sns.list_topics()["Topics"] == []

    result = cloud.launch(inv, "web01")
    assert result.rc == 0, result.err
    assert f"web01: SNS topic {TOPIC_ARN} created" in result.out
    assert sns.get_topic_attributes(TopicArn=TOPIC_ARN)["Attributes"]["TopicArn"] == TOPIC_ARN

    def subscribed() -> list[str]:
        subs = sns.list_subscriptions_by_topic(TopicArn=TOPIC_ARN)["Subscriptions"]
        return sorted(s["Endpoint"] for s in subs if s["Protocol"] == "email")

    assert subscribed() == ["oncall@example.com", "ops@example.com"]

    # A rerun makes no write call; a new address is the one subscription added.
    notify["email"].append("lead@example.com")
    inv = write_inventory(cloud.tmp, notify, aws={"ami": cloud.ami, "region": REGION},
                          roles=[*ROLES, "ec2-instance"])
    cloud.render(inv)
    proxy = FaultProxy(cloud.endpoint)
    try:
        again = cloud.launch(inv, "web01", endpoint=proxy.url)
    finally:
        proxy.stop()
    assert again.rc == 0, again.err
    assert proxy.count("CreateTopic") == 0 and proxy.count("Subscribe") == 1, proxy.seen
    assert f"web01: SNS topic {TOPIC_ARN} exists" in again.out
    assert f"web01: SNS topic {TOPIC}: ops@example.com already subscribed" in again.out
    assert subscribed() == ["lead@example.com", "oncall@example.com", "ops@example.com"]


def test_launch_subscribes_to_an_existing_topic_without_creating_it(cloud):
    notify = {"sns_topic_arn": TOPIC_ARN, "email": ["ops@example.com"]}
    inv = write_inventory(cloud.tmp, notify, aws={"ami": cloud.ami, "region": REGION},
                          roles=[*ROLES, "ec2-instance"])
    cloud.render(inv)
    line = one_error(cloud.launch(inv, "web01"), "host web01:", "sns:Subscribe failed",
                     quiet=False)
    assert "NotFound" in line, line
    sns = cloud.client("sns")
    sns.create_topic(Name=TOPIC)
    result = cloud.launch(inv, "web01")
    assert result.rc == 0, result.err
    assert "CreateTopic" not in result.out
    subs = sns.list_subscriptions_by_topic(TopicArn=TOPIC_ARN)["Subscriptions"]
    assert [(s["Protocol"], s["Endpoint"]) for s in subs] == [("email", "ops@example.com")]


def test_launch_refuses_to_create_a_topic_of_another_account(cloud):
    other = f"arn:aws:sns:{REGION}:999999999999:{TOPIC}"
    inv = write_inventory(cloud.tmp, {"sns_topic_arn": other, "create": True},
                          aws={"ami": cloud.ami, "region": REGION},
                          roles=[*ROLES, "ec2-instance"])
    cloud.render(inv)
    line = one_error(cloud.launch(inv, "web01"), "host web01:", "key cloud_init.notify.create:",
                     "another account", quiet=False)
    assert f"not {other}" in line, line
    assert cloud.instances("web01") == []
