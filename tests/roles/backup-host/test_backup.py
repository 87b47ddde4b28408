"""The backup role's build: the script, the timer and its cron fallback, the fleet's IAM policy,
bucket lifecycle and snapshot policy, errors that name the key; and what launch applies.

The build is checked by its real consumers through ``bootstrap validate`` (shellcheck,
``systemd-analyze verify``, parliament). The bucket's lifecycle is applied by ``bootstrap
launch`` against moto in server mode and read back; moto has no Data Lifecycle Manager, so the
snapshot policy's calls are checked against botocore's own model of DLM with its Stubber.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml
from support.cli import one_error, run_cli
from support.cloud import BUCKET, REGION
from support.moto import FaultProxy

from bootstrap.errors import BootstrapError
from bootstrap.hosts.model import KeyProblem
from bootstrap.roles.backup_host.launch import ensure_dlm_policy
from bootstrap.roles.backup_host.schedule import parse

KNOWN = "db01.example.internal ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGd3bW9ZbUNhcGhvMWp0c2xRVmZ6WG1aTnp0Zz09"
KEY_TEXT = ("-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAA\n"
            "-----END OPENSSH PRIVATE KEY-----\n")
FILES = "files"
ROLE_ARN = "arn:aws:iam::123456789012:role/dlm-backup"


def write_inventory(tmp: Path, backup: dict[str, Any] | None = None, *,
                    roles: tuple[str, ...] = ("backup-host",), aws: dict[str, Any] | None = None,
                    hosts: tuple[str, ...] = ("bk01",)) -> Path:
    """An inventory of backup hosts; ``backup`` goes over a local-only recipe (None drops a key)."""
    base: dict[str, Any] = {"sources": ["/etc", "/home"], "target": "/backup"}
    settings = {k: v for k, v in {**base, **(backup or {})}.items() if v is not None}
    host: dict[str, Any] = {"backup": settings}
    if aws is not None:
        host["aws"] = aws
    inv = tmp / "inv"
    (inv / "secrets").mkdir(parents=True, exist_ok=True)
    (inv / "secrets" / "backup-key").write_text(KEY_TEXT)
    doc = {"all": {"vars": {"os_family": "debian", "bootstrap_roles": list(roles)},
                   "hosts": {name: host for name in hosts}}}
    (inv / "hosts.yml").write_text(yaml.safe_dump(doc, sort_keys=False))
    return inv


def render(inv: Path, out: Path) -> Path:
    result = run_cli("render", inv, "-o", out)
    assert result.rc == 0, result.err
    return out


def line_of(inv: Path, text: str) -> int:
    rows = (inv / "hosts.yml").read_text().splitlines()
    return next(n for n, row in enumerate(rows, 1) if text in row)


REMOTE = {"sources": ["/etc", "root@db01.example.internal:/var/lib/postgresql"],
          "ssh_key": {"file": "secrets/backup-key"}, "known_hosts": [KNOWN]}
S3 = {"bucket": BUCKET, "region": REGION}


# -- the build, read back by its consumers --------------------------------------------------------


def test_the_build_passes_shellcheck_systemd_and_parliament(tmp_path):
    key = f"arn:aws:kms:{REGION}:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab"
    inv = write_inventory(tmp_path, {**REMOTE, "s3": {**S3, "kms_key_arn": key},
                                     "snapshots": {"every": 12}})
    out = render(inv, tmp_path / "build")
    report = run_cli("validate", out)
    assert report.rc == 0, report.out
    for line in ("ok   bk01 /usr/local/sbin/bootstrap-backup (shellcheck)",
                 "ok   bk01 /etc/systemd/system/bootstrap-backup.service (systemd-analyze verify)",
                 "ok   bk01 /etc/systemd/system/bootstrap-backup.timer (systemd-analyze verify)",
                 "ok   _fleet iam/backup-fleet-boot_backup+bk01.policy.json (parliament)"):
        assert line in report.out, report.out
    assert "b3BlbnNzaC1rZXktdjEAAAAA" not in report.out + report.err


def test_systemd_refuses_a_broken_timer_in_validate(tmp_path):
    out = render(write_inventory(tmp_path), tmp_path / "build")
    timer = out / "bk01" / FILES / "etc/systemd/system/bootstrap-backup.timer"
    timer.chmod(0o644)
    timer.write_text(timer.read_text().replace("OnCalendar=*-*-* 02:30:00",
                                               "OnCalendar=*-*-* 02:30:99"))
    report = run_cli("validate", out)
    assert report.rc == 1
    assert "FAIL bk01 /etc/systemd/system/bootstrap-backup.timer (systemd-analyze verify)" \
        in report.out, report.out
    assert "Failed to parse calendar specification" in report.out


def test_the_timer_the_cron_line_and_the_script_say_the_same_schedule(tmp_path):
    out = render(write_inventory(tmp_path, {"schedule": "Mon..Fri 22:15"}), tmp_path / "build")
    host = out / "bk01" / FILES
    assert "OnCalendar=Mon..Fri 22:15\n" in (host / "etc/systemd/system/bootstrap-backup.timer")\
        .read_text()
    cron = (host / "etc/cron.d/bootstrap-backup").read_text().splitlines()
    assert cron[-1] == ("15 22 * * 1-5 root [ -d /run/systemd/system ] || "
                        "/usr/local/sbin/bootstrap-backup")
    service = (host / "etc/systemd/system/bootstrap-backup.service").read_text()
    assert "RequiresMountsFor=/backup\n" in service
    assert "ExecStart=/usr/local/sbin/bootstrap-backup\n" in service


def test_the_ssh_key_is_a_secret_file_0600_and_the_known_hosts_a_data_file(tmp_path):
    out = render(write_inventory(tmp_path, REMOTE), tmp_path / "build")
    host = out / "bk01"
    key = host / FILES / "etc/bootstrap/backup/ssh_key"
    assert key.read_text() == KEY_TEXT
    assert key.stat().st_mode & 0o777 == 0o600
    files = {f["dest"]: f for f in json.loads((host / "manifest.json").read_text())["files"]}
    assert files["/etc/bootstrap/backup/ssh_key"]["secret"] is True
    assert files["/etc/bootstrap/backup/ssh_key"]["mode"] == "0600"
    assert (host / FILES / "etc/bootstrap/backup/known_hosts").read_text() == KNOWN + "\n"
    script = (host / FILES / "usr/local/sbin/bootstrap-backup").read_text()
    assert "StrictHostKeyChecking=yes" in script and "StrictHostKeyChecking=no" not in script
    assert "readonly SOURCE_ARGS=(/etc/ root@db01.example.internal:/var/lib/postgresql/)" in script
    assert "b3BlbnNzaC1rZXktdjEAAAAA" not in script


def test_a_local_only_host_gets_no_key_and_no_known_hosts(tmp_path):
    out = render(write_inventory(tmp_path), tmp_path / "build")
    assert not (out / "bk01" / FILES / "etc/bootstrap/backup").exists()
    assert not (out / "_fleet" / "iam").exists()


def test_the_fleet_build_holds_the_upload_policy_lifecycle_and_snapshot_policy(tmp_path):
    key = f"arn:aws:kms:{REGION}:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab"
    inv = write_inventory(tmp_path, {"s3": {**S3, "prefix": "nightly", "kms_key_arn": key,
                                            "glacier_after_days": 14, "expire_after_days": 200},
                                     "snapshots": {"every": 6, "keep": 28, "times": ["01:30"]}},
                          hosts=("bk01", "bk02"))
    out = render(inv, tmp_path / "build") / "_fleet"
    policy = json.loads((out / "iam/backup-fleet-boot_nightly+bk01.policy.json").read_text())
    assert policy["Statement"] == [
        {"Sid": "UploadBackupArchives", "Effect": "Allow", "Action": "s3:PutObject",
         "Resource": f"arn:aws:s3:::{BUCKET}/nightly/bk01/*"},
        {"Sid": "EncryptBackupArchives", "Effect": "Allow",
         "Action": ["kms:Decrypt", "kms:GenerateDataKey"], "Resource": key,
         "Condition": {"StringEquals": {"kms:ViaService": f"s3.{REGION}.amazonaws.com"}}}]
    trust = json.loads((out / "iam/backup-fleet-boot_nightly+bk01.trust.json").read_text())
    assert trust["Statement"][0]["Principal"] == {"Service": "ec2.amazonaws.com"}
    lifecycle = json.loads((out / f"backup/{BUCKET}.lifecycle.json").read_text())
    assert lifecycle == {"Rules": [{
        "ID": "bootstrap-backup:nightly/", "Filter": {"Prefix": "nightly/"}, "Status": "Enabled",
        "Transitions": [{"Days": 14, "StorageClass": "GLACIER"}], "Expiration": {"Days": 200},
        "AbortIncompleteMultipartUpload": {"DaysAfterInitiation": 1}}]}
    dlm = json.loads((out / "backup/bk02.dlm.json").read_text())
    assert dlm["PolicyDetails"]["TargetTags"] == [{"Key": "bootstrap:host", "Value": "bk02"}]
    assert dlm["PolicyDetails"]["Parameters"] == {"ExcludeBootVolume": True}
    assert dlm["PolicyDetails"]["Schedules"][0]["CreateRule"] == {
        "Interval": 6, "IntervalUnit": "HOURS", "Times": ["01:30"]}
    assert dlm["PolicyDetails"]["Schedules"][0]["RetainRule"] == {"Count": 28}
    # The instance itself may take, copy or delete no snapshot: DLM does it with its own role.
    for name in ("bk01", "bk02"):
        text = (out / f"iam/backup-fleet-boot_nightly+{name}.policy.json").read_text()
        assert "ec2:" not in text and "s3:GetObject" not in text and "s3:Delete" not in text


def test_two_hosts_under_one_prefix_must_ask_the_same_lifecycle(tmp_path):
    inv = write_inventory(tmp_path, {"s3": S3}, hosts=("bk01", "bk02"))
    doc = yaml.safe_load((inv / "hosts.yml").read_text())
    doc["all"]["hosts"]["bk02"] = {"backup": {**doc["all"]["hosts"]["bk01"]["backup"],
                                              "s3": {**S3, "expire_after_days": 90}}}
    (inv / "hosts.yml").write_text(yaml.safe_dump(doc, sort_keys=False))
    line = one_error(run_cli("render", inv, "-o", tmp_path / "build"), "host bk02:",
                     "key backup.s3:", "host bk01 asks for other days")
    assert f"s3://{BUCKET}/backup/" in line
    assert not (tmp_path / "build").exists()


# -- errors that name the key -----------------------------------------------------------------------


@pytest.mark.parametrize(("settings", "key", "words", "where"), [
    ({"sources": ["etc"]}, "backup.sources.0", "not an absolute path", "- etc"),
    ({"sources": ["/etc", "/home/a b"]}, "backup.sources.1", "not a plain absolute path",
     "a b"),
    ({"sources": ["/etc/../root"]}, "backup.sources.0", "'.' or '..'", "/etc/../root"),
    ({"target": "backup"}, "backup.target", "not an absolute path", "target: backup"),
    ({"target": "/"}, "backup.target", "cannot hold the copies", "target: /"),
    ({"sources": ["/srv"], "target": "/srv/backup"}, "backup.sources.0",
     "holds the target /srv/backup", "- /srv"),
    ({"sources": ["/etc", "/etc/"]}, "backup.sources.1", "copies the same folder", "- /etc/"),
    ({"sources": ["db01.example.internal:/var/lib"], "ssh_key": {"file": "secrets/backup-key"}},
     "backup.sources.0", "has no line in backup.known_hosts", "db01.example.internal:/var/lib"),
    ({"sources": ["db01.example.internal:/var/lib"], "known_hosts": [KNOWN]}, "backup.ssh_key",
     "give the key as a secret reference", "backup:"),
    ({"sources": ["bad host$(id):/var"]}, "backup.sources.0", "is not a host name", "bad host"),
    ({"known_hosts": ["db01 ssh-ed25519"]}, "backup.known_hosts.0", "not a valid known_hosts",
     "db01 ssh-ed25519"),
    ({"schedule": "every night"}, "backup.schedule", "is not an OnCalendar expression",
     "every night"),
    ({"schedule": "*-*-* 25:00"}, "backup.schedule", "hour '25' is outside 0..23", "25:00"),
    ({"schedule": "*-*-* 02:30 Europe/Paris"}, "backup.schedule", "no time zones", "Paris"),
    ({"schedule": "*-*-* 02:30:15"}, "backup.schedule", "write it as backup.cron", "02:30:15"),
    ({"schedule": "Mon *-*-01 02:00"}, "backup.schedule", "write it as backup.cron", "Mon"),
    ({"cron": "30 2 * * * /bin/evil"}, "backup.cron", "is not five cron fields", "cron:"),
    ({"keep": {"daily": 0}}, "backup.keep.daily", "greater than or equal to 1", "daily: 0"),
    ({"s3": {**S3, "glacier_after_days": 90, "expire_after_days": 30}},
     "backup.s3.expire_after_days", "make expire_after_days larger", "expire_after_days: 30"),
    ({"s3": {**S3, "storage_class": "GLACIER", "glacier_after_days": 5}},
     "backup.s3.glacier_after_days", "stored as GLACIER already", "glacier_after_days: 5"),
    ({"s3": {**S3, "prefix": "../x"}}, "backup.s3.prefix", "not a plain S3 key prefix", "prefix: ../x"),
    ({"snapshots": {"every": 5}}, "backup.snapshots.every", "Input should be", "every: 5"),
    ({"lock": "run/lock"}, "backup.lock", "not an absolute path", "lock: run/lock"),
])
def test_bad_settings_name_the_key(tmp_path, settings, key, words, where):
    inv = write_inventory(tmp_path, settings)
    line = one_error(run_cli("render", inv, "-o", tmp_path / "build"), "host bk01:",
                     f"key {key}:", words)
    assert f"hosts.yml:{line_of(inv, where)}:" in line, line
    assert not (tmp_path / "build").exists()


def test_archives_stored_in_glacier_get_no_transition_rule(tmp_path):
    inv = write_inventory(tmp_path, {"s3": {**S3, "storage_class": "DEEP_ARCHIVE"}})
    out = render(inv, tmp_path / "build")
    [rule] = json.loads((out / f"_fleet/backup/{BUCKET}.lifecycle.json").read_text())["Rules"]
    assert "Transitions" not in rule and rule["Expiration"] == {"Days": 365}
    script = (out / "bk01" / FILES / "usr/local/sbin/bootstrap-backup").read_text()
    assert "'x-amz-storage-class: DEEP_ARCHIVE'" in script


def test_a_literal_ssh_key_is_refused_and_never_shown(tmp_path):
    inv = write_inventory(tmp_path, {**REMOTE, "ssh_key": KEY_TEXT})
    line = one_error(run_cli("render", inv, "-o", tmp_path / "build"), "host bk01:",
                     "key backup.ssh_key:", "must be a secret reference")
    assert "b3BlbnNzaC1rZXktdjEAAAAA" not in line and "BEGIN" not in line


def test_a_missing_key_file_names_the_reference_not_the_key(tmp_path):
    inv = write_inventory(tmp_path, {**REMOTE, "ssh_key": {"file": "secrets/absent"}})
    result = run_cli("render", inv, "-o", tmp_path / "build")
    line = one_error(result, "host bk01:", "secrets/absent")
    assert "BEGIN" not in line


def test_an_untranslatable_schedule_runs_with_its_explicit_cron_form(tmp_path):
    out = render(write_inventory(tmp_path, {"schedule": "*-*-* 02:30:15", "cron": "30 2 * * *"}),
                 tmp_path / "build")
    cron = (out / "bk01" / FILES / "etc/cron.d/bootstrap-backup").read_text()
    assert "\n30 2 * * * root [ -d /run/systemd/system ] || /usr/local/sbin/bootstrap-backup\n" \
        in cron
    assert run_cli("validate", out).rc == 0


@pytest.mark.parametrize(("calendar", "cron"), [
    ("daily", "0 0 * * *"),
    ("hourly", "0 * * * *"),
    ("weekly", "0 0 * * 1"),
    ("*-*-* 02:30:00", "30 2 * * *"),
    ("02:30", "30 2 * * *"),
    ("Sat,Sun 04:05", "5 4 * * 6,7"),
    ("Mon..Fri *-*-* 22:00:00", "0 22 * * 1-5"),
    ("*-*-01 03:00", "0 3 1 * *"),
    ("*-01,07-01 00:00", "0 0 1 1,7 *"),
    ("*-*-* 0/6:00", "0 0-23/6 * * *"),
    ("*-*-* */4:15", "15 */4 * * *"),
    ("*-*-* 02:30:15", None),
    ("2027-*-* 02:30", None),
    ("Mon *-*-01 02:00", None),
])
def test_oncalendar_forms_and_their_cron_forms(calendar, cron):
    assert parse(calendar) == cron


@pytest.mark.parametrize("calendar", ["", "tomorrow", "*-13-01 00:00", "Mon..Fri", "Fri..Mon 1:00",
                                      "*-*-* 1:00/0", "*-*-~1 00:00", "*-*-* 02:30\n"])
def test_not_oncalendar_forms_are_refused(calendar):
    with pytest.raises(KeyProblem):
        parse(calendar)


def test_the_cron_fallback_agrees_with_systemd_on_the_next_runs(tmp_path):
    """systemd's own reading of each translated schedule is the cron line's next run too."""
    import shutil
    import subprocess
    from datetime import datetime, timedelta

    if shutil.which("systemd-analyze") is None:
        pytest.skip("systemd-analyze is not installed")
    for calendar in ("Mon..Fri 22:15", "*-*-01 03:00", "*-*-* 0/6:00", "Sat,Sun 04:05"):
        cron = parse(calendar)
        assert cron is not None
        shown = subprocess.run(["systemd-analyze", "calendar", "--iterations=5", calendar],
                               capture_output=True, text=True, env={"TZ": "UTC", "LC_ALL": "C"})
        assert shown.returncode == 0, shown.stderr
        systemd_runs = [datetime.strptime(" ".join(line.split()[-4:-1]), "%a %Y-%m-%d %H:%M:%S")
                        for line in shown.stdout.splitlines()
                        if "elapse:" in line or line.strip().startswith("Iter.")]
        # The same five runs, counted by cron's rules from one minute before systemd's first.
        runs, moment = [], systemd_runs[0] - timedelta(minutes=1)
        while len(runs) < 5:
            moment += timedelta(minutes=1)
            if _cron_matches(cron, moment):
                runs.append(moment)
        assert runs == systemd_runs, (calendar, cron)


def _cron_matches(cron: str, moment: Any) -> bool:
    minute, hour, day, month, weekday = cron.split()
    weekday_number = moment.isoweekday()  # 1..7, Monday first, as the cron line writes it

    def hit(field: str, value: int, high: int) -> bool:
        for item in field.split(","):
            span, _, step = item.partition("/")
            low, _, top = span.partition("-")
            first, last = (0, high) if span == "*" else (int(low), int(top or low))
            if first <= value <= last and (value - first) % int(step or 1) == 0:
                return True
        return False

    return (hit(minute, moment.minute, 59) and hit(hour, moment.hour, 23)
            and hit(day, moment.day, 31) and hit(month, moment.month, 12)
            and (weekday == "*" or hit(weekday, weekday_number, 7)))


# -- launch -----------------------------------------------------------------------------------------


def test_launch_applies_the_lifecycle_rule_keeping_the_others_and_a_rerun_writes_nothing(cloud):
    s3 = cloud.client("s3")
    foreign = {"ID": "logs-expire", "Filter": {"Prefix": "logs/"}, "Status": "Enabled",
               "Expiration": {"Days": 7}}
    s3.put_bucket_lifecycle_configuration(Bucket=BUCKET,
                                          LifecycleConfiguration={"Rules": [foreign]})
    inv = write_inventory(cloud.tmp, {"s3": {**S3, "glacier_after_days": 10,
                                             "expire_after_days": 100}},
                          roles=("cloud-init", "ec2-instance", "backup-host"),
                          aws={"ami": cloud.ami, "region": REGION})
    cloud.render(inv)
    result = cloud.launch(inv, "bk01")
    assert result.rc == 0, result.err
    assert (f"bk01: s3://{BUCKET}/backup/: lifecycle rule bootstrap-backup:backup/ created "
            f"(1 other rule kept)") in result.out, result.out
    rules = {r["ID"]: r for r in s3.get_bucket_lifecycle_configuration(Bucket=BUCKET)["Rules"]}
    assert rules.keys() == {"logs-expire", "bootstrap-backup:backup/"}
    assert rules["logs-expire"]["Expiration"] == {"Days": 7}
    ours = rules["bootstrap-backup:backup/"]
    assert ours["Filter"] == {"Prefix": "backup/"} and ours["Status"] == "Enabled"
    assert ours["Transitions"] == [{"Days": 10, "StorageClass": "GLACIER"}]
    assert ours["Expiration"] == {"Days": 100}
    assert ours["AbortIncompleteMultipartUpload"] == {"DaysAfterInitiation": 1}
    policy = cloud.client("iam").get_role_policy(RoleName="backup-fleet-boot_backup+bk01",
                                                 PolicyName="backup-fleet-boot_backup+bk01")
    assert policy["PolicyDocument"]["Statement"][0]["Action"] == "s3:PutObject"

    proxy = FaultProxy(cloud.endpoint)
    try:
        again = cloud.launch(inv, "bk01", endpoint=proxy.url)
    finally:
        proxy.stop()
    assert again.rc == 0, again.err
    assert f"bk01: s3://{BUCKET}/backup/: lifecycle rule bootstrap-backup:backup/ unchanged" \
        in again.out
    assert proxy.count("s3:PUT") == 0, proxy.seen


def test_launch_updates_a_changed_rule_in_place(cloud):
    aws = {"ami": cloud.ami, "region": REGION}
    roles = ("cloud-init", "ec2-instance", "backup-host")
    inv = write_inventory(cloud.tmp, {"s3": S3}, roles=roles, aws=aws)
    cloud.render(inv)
    assert cloud.launch(inv, "bk01").rc == 0
    inv = write_inventory(cloud.tmp, {"s3": {**S3, "expire_after_days": 40}}, roles=roles, aws=aws)
    cloud.render(inv)
    result = cloud.launch(inv, "bk01")
    assert result.rc == 0, result.err
    assert "lifecycle rule bootstrap-backup:backup/ updated" in result.out
    [rule] = cloud.client("s3").get_bucket_lifecycle_configuration(Bucket=BUCKET)["Rules"]
    assert rule["Expiration"] == {"Days": 40}


# -- the snapshot policy, against botocore's model of DLM ---------------------------------------


class StubbedCalls:
    """Launch's ``Calls`` over a boto3 DLM client whose answers a Stubber gives."""

    dry_run = False

    def __init__(self, client: Any) -> None:
        self.client = client

    def call(self, service: str, operation: str, missing: tuple[str, ...] = (),
             **params: Any) -> dict[str, Any] | None:
        from botocore import xform_name
        from botocore.exceptions import ClientError

        assert service == "dlm", f"{service}:{operation} is not a DLM call"
        try:
            return getattr(self.client, xform_name(operation))(**params)
        except ClientError as exc:
            if exc.response["Error"]["Code"] in missing:
                return None
            raise


@pytest.fixture
def dlm():
    boto3 = pytest.importorskip("boto3")
    from botocore.stub import Stubber

    client = boto3.client("dlm", region_name=REGION, aws_access_key_id="testing",
                          aws_secret_access_key="testing")
    with Stubber(client) as stubber:
        yield client, stubber
        stubber.assert_no_pending_responses()


def wanted_policy(tmp_path: Path, snapshots: dict[str, Any]) -> dict[str, Any]:
    inv = write_inventory(tmp_path, {"snapshots": snapshots}, aws={"region": REGION},
                          roles=("backup-host",))
    out = render(inv, tmp_path / "build")
    return json.loads((out / "_fleet/backup/bk01.dlm.json").read_text())


def test_the_snapshot_policy_is_created_with_exactly_these_parameters(tmp_path, dlm):
    client, stubber = dlm
    wanted = wanted_policy(tmp_path, {"every": 12, "keep": 14})
    stubber.add_response("get_lifecycle_policies", {"Policies": []},
                         {"TagsToAdd": ["bootstrap:backup=bk01"]})
    details = {
        "PolicyType": "EBS_SNAPSHOT_MANAGEMENT", "ResourceTypes": ["INSTANCE"],
        "TargetTags": [{"Key": "bootstrap:host", "Value": "bk01"}],
        "Parameters": {"ExcludeBootVolume": True},
        "Schedules": [{"Name": "every 12 hours",
                       "CreateRule": {"Interval": 12, "IntervalUnit": "HOURS",
                                      "Times": ["03:00"]},
                       "RetainRule": {"Count": 14}, "CopyTags": True,
                       "TagsToAdd": [{"Key": "bootstrap:backup", "Value": "bk01"}]}]}
    stubber.add_response("create_lifecycle_policy", {"PolicyId": "policy-0123456789abcdef0"}, {
        "ExecutionRoleArn": ROLE_ARN, "Description": "bootstrap backup bk01",
        "State": "ENABLED", "PolicyDetails": details, "Tags": {"bootstrap:backup": "bk01"}})
    done = ensure_dlm_policy(wanted, REGION, ROLE_ARN, StubbedCalls(client))
    assert done == [(True, "DLM policy policy-0123456789abcdef0 created: snapshots of bk01 "
                           "every 12 hours")]


def _existing(wanted: dict[str, Any], details: dict[str, Any]) -> dict[str, Any]:
    return {"Policy": {"PolicyId": "policy-0123456789abcdef0", "Description": wanted["Description"],
                       "State": "ENABLED", "ExecutionRoleArn": ROLE_ARN,
                       "PolicyDetails": details, "Tags": wanted["Tags"]}}


def test_a_rerun_with_the_same_snapshot_policy_makes_no_write_call(tmp_path, dlm):
    client, stubber = dlm
    wanted = wanted_policy(tmp_path, {"every": 24, "keep": 7})
    summary = {"PolicyId": "policy-0123456789abcdef0", "Description": wanted["Description"],
               "State": "ENABLED", "Tags": wanted["Tags"], "PolicyType": "EBS_SNAPSHOT_MANAGEMENT"}
    stubber.add_response("get_lifecycle_policies", {"Policies": [summary]},
                         {"TagsToAdd": ["bootstrap:backup=bk01"]})
    # AWS answers with defaults of its own beside what was asked: still the same policy.
    answered = json.loads(json.dumps(wanted["PolicyDetails"]))
    answered["PolicyLanguage"] = "STANDARD"
    stubber.add_response("get_lifecycle_policy", _existing(wanted, answered),
                         {"PolicyId": "policy-0123456789abcdef0"})
    done = ensure_dlm_policy(wanted, REGION, ROLE_ARN, StubbedCalls(client))
    assert done == [(False, "DLM policy policy-0123456789abcdef0 of bk01 unchanged")]
    # The stubber holds no answer for a write: one would have failed the call above.


def test_a_changed_snapshot_policy_is_updated_in_place(tmp_path, dlm):
    client, stubber = dlm
    old = wanted_policy(tmp_path / "old", {"every": 24, "keep": 7})
    wanted = wanted_policy(tmp_path / "new", {"every": 24, "keep": 30})
    summary = {"PolicyId": "policy-0123456789abcdef0", "Tags": wanted["Tags"]}
    stubber.add_response("get_lifecycle_policies", {"Policies": [summary]},
                         {"TagsToAdd": ["bootstrap:backup=bk01"]})
    stubber.add_response("get_lifecycle_policy", _existing(old, old["PolicyDetails"]),
                         {"PolicyId": "policy-0123456789abcdef0"})
    stubber.add_response("update_lifecycle_policy", {}, {
        "PolicyId": "policy-0123456789abcdef0", "ExecutionRoleArn": ROLE_ARN,
        "State": "ENABLED", "Description": "bootstrap backup bk01",
        "PolicyDetails": wanted["PolicyDetails"]})
    done = ensure_dlm_policy(wanted, REGION, ROLE_ARN, StubbedCalls(client))
    assert done == [(True, "DLM policy policy-0123456789abcdef0 of bk01 updated")]
    assert wanted["PolicyDetails"]["Schedules"][0]["RetainRule"] == {"Count": 30}


def test_two_snapshot_policies_of_one_host_are_an_error(tmp_path, dlm):
    client, stubber = dlm
    wanted = wanted_policy(tmp_path, {})
    stubber.add_response("get_lifecycle_policies", {"Policies": [
        {"PolicyId": "policy-0000000000000000a", "Tags": wanted["Tags"]},
        {"PolicyId": "policy-0000000000000000b", "Tags": wanted["Tags"]}]},
        {"TagsToAdd": ["bootstrap:backup=bk01"]})
    with pytest.raises(BootstrapError, match="several DLM policies snapshot bk01 "
                                             r"\(policy-0000000000000000a, policy-0000000000000000b\)"):
        ensure_dlm_policy(wanted, REGION, ROLE_ARN, StubbedCalls(client))


def test_a_snapshot_policy_needs_the_instance_region(tmp_path):
    inv = write_inventory(tmp_path, {"snapshots": {}}, roles=("cloud-init", "ec2-instance",
                                                              "backup-host"),
                          aws={"ami": "ami-0d1e2b3c4a5f60718"})
    render(inv, tmp_path / "build")
    result = run_cli("launch", inv, "bk01", "-b", tmp_path / "build", "--dry-run", "--region",
                     REGION)
    line = one_error(result, "host bk01:", "key backup.snapshots:", "set aws.region",
                     quiet=False)
    assert "hosts.yml:" in line


def test_a_dry_run_prints_the_lifecycle_and_snapshot_policy_calls_and_makes_none(tmp_path):
    inv = write_inventory(tmp_path, {"s3": S3, "snapshots": {"execution_role_arn": ROLE_ARN}},
                          roles=("cloud-init", "ec2-instance", "backup-host"),
                          aws={"ami": "ami-0d1e2b3c4a5f60718", "region": REGION})
    render(inv, tmp_path / "build")
    result = run_cli("launch", inv, "bk01", "-b", tmp_path / "build", "--dry-run",
                     env={"AWS_ACCESS_KEY_ID": None, "AWS_SECRET_ACCESS_KEY": None})
    assert result.rc == 0, result.err
    assert f"bk01: would call s3:GetBucketLifecycleConfiguration Bucket={BUCKET}" in result.out
    assert "bk01: would call s3:PutBucketLifecycleConfiguration" in result.out
    assert "bk01: would call dlm:GetLifecyclePolicies" in result.out
    assert "bk01: would call dlm:CreateLifecyclePolicy" in result.out, result.out
    assert "sts:GetCallerIdentity" not in result.out


def test_the_snapshots_of_a_launch_template_target_its_instances_by_the_template_tag(tmp_path):
    inv = write_inventory(tmp_path, {"snapshots": {}},
                          roles=("cloud-init", "ec2-instance", "backup-host"),
                          aws={"ami": "ami-0d1e2b3c4a5f60718", "region": REGION,
                               "launch_template": "backup-tier"})
    out = render(inv, tmp_path / "build")
    dlm = json.loads((out / "_fleet/backup/bk01.dlm.json").read_text())
    # launch tags a template's instances bootstrap:template=<inventory host>.
    assert dlm["PolicyDetails"]["TargetTags"] == [{"Key": "bootstrap:template", "Value": "bk01"}]
