"""The rendered backup script, run for real on this machine against real files.

Each test renders a backup host whose sources, target, lock and log are folders of the test
(the settings a user would write, nothing test-only in the script), then runs the script as
the timer would. Days pass with libfaketime (``faketime``), so rotation is seen over weeks of
simulated nightly runs; hard links are read back as inode numbers. The upload runs against
moto in server mode with signatures and IAM policies checked, and the instance role's
credentials handed out by a loopback IMDSv2 stub.
"""

from __future__ import annotations

import fcntl
import io
import os
import shutil
import subprocess
import tarfile
from collections.abc import Iterator
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml
from support import moto as motolib
from support import waits
from support.cli import run_cli
from support.cloud import BUCKET, REGION
from support.imds import Imds

SCRIPT = "files/usr/local/sbin/bootstrap-backup"
BUSY = 75
KNOWN = "127.0.0.1 ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGd3bW9ZbUNhcGhvMWp0c2xRVmZ6WG1aTnp0Zz09"

needs_rsync = pytest.mark.skipif(shutil.which("rsync") is None or shutil.which("flock") is None,
                                 reason="rsync and flock (util-linux) are needed")
needs_faketime = pytest.mark.skipif(shutil.which("faketime") is None,
                                    reason="faketime is not installed (requirements/apt-backup.txt)")
pytestmark = needs_rsync


class Lab:
    """One backup host whose every path is a folder of the test."""

    def __init__(self, tmp: Path, host: str = "bk01", **settings: Any) -> None:
        self.tmp = tmp
        self.host = host
        self.sources = [tmp / "src" / "etc", tmp / "src" / "home"]
        for folder in self.sources:
            folder.mkdir(parents=True, exist_ok=True)
        (self.sources[0] / "hosts").write_text("127.0.0.1 localhost\n")
        (self.sources[1] / "notes.txt").write_text("first\n")
        self.target = tmp / "backup"
        self.target.mkdir(exist_ok=True)
        self.lock = tmp / "run" / "backup.lock"
        self.log = tmp / "log" / "backup.log"
        self.log.parent.mkdir(exist_ok=True)
        self.settings = {"sources": [str(p) for p in self.sources], "target": str(self.target),
                         "lock": str(self.lock), "log": str(self.log), **settings}
        self.render()

    def render(self) -> None:
        inv = self.tmp / "inv"
        inv.mkdir(exist_ok=True)
        (inv / "secrets").mkdir(exist_ok=True)
        (inv / "secrets" / "key").write_text("-----BEGIN OPENSSH PRIVATE KEY-----\nx\n"
                                             "-----END OPENSSH PRIVATE KEY-----\n")
        doc = {"all": {"hosts": {self.host: {"bootstrap_roles": ["backup-host"],
                                          "backup": self.settings}}}}
        (inv / "hosts.yml").write_text(yaml.safe_dump(doc, sort_keys=False))
        build = self.tmp / "build"
        result = run_cli("render", inv, "-o", build)
        assert result.rc == 0, result.err
        self.script = build / self.host / SCRIPT
        self.fleet = build / "_fleet"

    def run(self, day: date | None = None, env: dict[str, str] | None = None,
            ) -> subprocess.CompletedProcess[str]:
        """The script, at 02:30 UTC of ``day`` when given (libfaketime)."""
        command = ["bash", str(self.script)]
        if day is not None:
            command = ["faketime", f"{day.isoformat()} 02:30:00", *command]
        # Real file times: libfaketime would shift the mtimes rsync compares.
        full = {**os.environ, "TZ": "UTC", "NO_FAKE_STAT": "1", **(env or {})}
        return subprocess.run(command, env=full, capture_output=True, text=True,
                              timeout=waits.allowance(120))

    def snapshots(self) -> list[str]:
        folder = self.target / "snapshots"
        return sorted(p.name for p in folder.iterdir()) if folder.is_dir() else []

    def file(self, snapshot: str, source: int, name: str) -> Path:
        return self.target / "snapshots" / snapshot / "local" / \
            str(self.sources[source]).lstrip("/") / name


def days(first: date, count: int) -> Iterator[date]:
    for offset in range(count):
        yield first + timedelta(days=offset)


def kept_days(lab: Lab) -> list[date]:
    """The days of the snapshots (runs start at 02:30:00; the clock moves on while they run)."""
    return [date.fromisoformat(name[:10]) for name in lab.snapshots()]


# -- snapshots and rotation -----------------------------------------------------------------------


@needs_faketime
def test_rotation_keeps_the_asked_daily_weekly_and_monthly_copies(tmp_path):
    lab = Lab(tmp_path, keep={"daily": 3, "weekly": 2, "monthly": 2})
    first = date(2026, 1, 1)
    for day in days(first, 40):
        result = lab.run(day)
        assert result.returncode == 0, result.stderr
        kept = kept_days(lab)
        assert kept[-1] == day  # the new snapshot is always kept
        assert len(kept) <= 3 + 2 + 2
    # 2026-02-09 is a Monday (ISO week 7): the days are Feb 7, 8, 9; the weeks Feb 9 (week 7)
    # and Feb 8 (week 6, its Sunday); the months Feb 9 and Jan 31.
    assert kept_days(lab) == [date(2026, 1, 31), date(2026, 2, 7), date(2026, 2, 8),
                              date(2026, 2, 9)]
    assert (lab.target / "latest").resolve() == lab.target / "snapshots" / lab.snapshots()[-1]
    assert "rotation: 5 snapshots, 1 removed (keep 3 daily, 2 weekly, 2 monthly)" in \
        lab.log.read_text()


@needs_faketime
def test_weeks_and_months_reach_back_further_than_days(tmp_path):
    lab = Lab(tmp_path, keep={"daily": 2, "weekly": 0, "monthly": 3})
    for day in days(date(2026, 1, 20), 50):
        assert lab.run(day).returncode == 0
    # Days: Mar 9 and 10; months: March (Mar 10), February (Feb 28), January (Jan 31).
    assert kept_days(lab) == [date(2026, 1, 31), date(2026, 2, 28), date(2026, 3, 9),
                              date(2026, 3, 10)]


@needs_faketime
def test_an_unchanged_file_is_one_inode_across_every_snapshot(tmp_path):
    lab = Lab(tmp_path, keep={"daily": 5, "weekly": 0, "monthly": 0})
    for number, day in enumerate(days(date(2026, 3, 1), 8)):
        notes = lab.sources[1] / "notes.txt"
        notes.write_text(f"edit {number}\n")
        # An edit of the day before, as rsync's quick check (size and time) tells edits apart.
        edited = (day - timedelta(days=1)).toordinal() * 86400.0 - 719163 * 86400.0
        os.utime(notes, (edited, edited))
        assert lab.run(day).returncode == 0
    kept = lab.snapshots()
    assert len(kept) == 5
    same = {lab.file(s, 0, "hosts").stat().st_ino for s in kept}
    assert len(same) == 1
    assert lab.file(kept[0], 0, "hosts").stat().st_nlink == 5
    changed = {lab.file(s, 1, "notes.txt").stat().st_ino for s in kept}
    assert len(changed) == 5
    assert [lab.file(s, 1, "notes.txt").read_text() for s in kept] == [
        f"edit {n}\n" for n in range(3, 8)]


def test_a_failing_source_fails_the_run_by_name_and_leaves_the_copies_intact(tmp_path):
    lab = Lab(tmp_path)
    first = lab.run()
    assert first.returncode == 0, first.stderr
    [before] = lab.snapshots()
    inode = lab.file(before, 0, "hosts").stat().st_ino
    missing = tmp_path / "src" / "gone"
    lab.settings["sources"] = [*lab.settings["sources"], str(missing)]
    lab.render()
    (lab.sources[0] / "hosts").write_text("changed\n")
    result = lab.run()
    assert result.returncode == 1
    assert f"source {missing}: FAILED (rsync exit 23" in result.stderr
    assert f"source {lab.sources[0]}: ok" in result.stderr
    assert f"error: failed sources: {missing}; no snapshot made" in result.stderr
    assert lab.snapshots() == [before]
    assert lab.file(before, 0, "hosts").stat().st_ino == inode
    assert lab.file(before, 0, "hosts").read_text() == "127.0.0.1 localhost\n"
    assert (lab.target / "latest").resolve() == lab.target / "snapshots" / before
    assert not (lab.target / ".incomplete").exists()
    assert f"source {missing}: FAILED" in lab.log.read_text()


def test_a_remote_source_with_an_unknown_host_key_fails_by_name(tmp_path):
    lab = Lab(tmp_path, ssh_key={"file": "secrets/key"}, known_hosts=[KNOWN])
    lab.settings["sources"] = [*lab.settings["sources"], "127.0.0.1:/etc"]
    lab.render()
    result = lab.run()
    assert result.returncode == 1
    assert "source 127.0.0.1:/etc: FAILED (rsync exit" in result.stderr
    assert "failed sources: 127.0.0.1:/etc;" in result.stderr
    assert lab.snapshots() == []


def test_one_log_line_per_source_with_its_result(tmp_path):
    lab = Lab(tmp_path)
    result = lab.run()
    assert result.returncode == 0, result.stderr
    lines = lab.log.read_text().splitlines()
    for source in lab.sources:
        assert sum(line.endswith(f"bootstrap-backup: source {source}: ok") for line in lines) == 1
    assert lines[-1].endswith(f"bootstrap-backup: run {lab.snapshots()[0]}: ok")


def test_a_second_run_while_one_holds_the_lock_exits_75_and_touches_nothing(tmp_path):
    lab = Lab(tmp_path)
    assert lab.run().returncode == 0
    before = lab.snapshots()
    # What the first run's staging folder would be: the second run must not remove it.
    (lab.target / ".incomplete").mkdir()
    (lab.target / ".incomplete" / "in-progress").write_text("x")
    lab.lock.parent.mkdir(exist_ok=True)
    with open(lab.lock, "a") as holder:
        fcntl.flock(holder, fcntl.LOCK_EX)
        busy = lab.run()
    assert busy.returncode == BUSY
    assert f"another run holds {lab.lock}: this one exits without copying (status 75)" \
        in busy.stderr
    assert lab.snapshots() == before
    assert (lab.target / ".incomplete" / "in-progress").exists()
    # Once the lock is free a run goes ahead, and clears the staging folder it now owns.
    shutil.rmtree(lab.target / "snapshots" / before[0])
    again = lab.run()
    assert again.returncode == 0, again.stderr
    assert not (lab.target / ".incomplete").exists()


def test_two_runs_started_together_never_overlap(tmp_path):
    lab = Lab(tmp_path)
    # A large enough source that the first run is still copying when the second starts.
    big = lab.sources[1] / "big"
    big.mkdir()
    for index in range(300):
        (big / f"f{index}").write_bytes(os.urandom(64 * 1024))
    env = {**os.environ, "TZ": "UTC"}
    first = subprocess.Popen(["bash", str(lab.script)], env=env, stderr=subprocess.PIPE,
                             text=True)
    waits.wait_for("the first run to take the lock", lambda: _locked(lab.lock) or None, 60,
                   interval=0.01)
    second = subprocess.run(["bash", str(lab.script)], env=env, capture_output=True, text=True,
                            timeout=waits.allowance(60))
    _, err = first.communicate(timeout=waits.allowance(120))
    assert first.returncode == 0, err
    assert second.returncode == BUSY, second.stderr
    assert len(lab.snapshots()) == 1


def _locked(lock: Path) -> bool:
    if not lock.exists():
        return False
    with open(lock, "a") as probe:
        try:
            fcntl.flock(probe, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return True
        fcntl.flock(probe, fcntl.LOCK_UN)
        return False


def test_runs_one_after_another_in_the_same_second_make_two_snapshots(tmp_path):
    lab = Lab(tmp_path)
    first, second = lab.run(), lab.run()
    assert (first.returncode, second.returncode) == (0, 0), first.stderr + second.stderr
    done = [line.split("snapshot ")[1] for line in lab.log.read_text().splitlines()
            if line.endswith(" done")]
    assert len(done) == 2 and done[0] != done[1]
    # The day's slot keeps the newer one.
    assert lab.snapshots() == [done[1].removesuffix(" done")]


def test_a_missing_target_is_an_error_before_anything_is_copied(tmp_path):
    lab = Lab(tmp_path)
    shutil.rmtree(lab.target)
    result = lab.run()
    assert result.returncode == 1
    assert f"the target {lab.target} does not exist: is the mirror mounted?" in result.stderr


# -- the upload, against moto S3 with the instance role's credentials -----------------------------


def moto_auth(server: motolib.MotoServer, on: bool) -> None:
    server.authenticate_after(0 if on else None)


@pytest.fixture
def upload_lab(moto: motolib.MotoServer, tmp_path: Path) -> Iterator[Any]:
    """A backup host with an S3 location; the instance role carries the policy the fleet build
    wrote for ``policy_host`` (bk01's own by default)."""
    imds_servers: list[Imds] = []

    def run(s3: dict[str, Any] | None = None, policy_host: str = "bk01",
            ) -> tuple[Lab, subprocess.CompletedProcess[str]]:
        moto.reset()
        moto_auth(moto, False)
        lab = Lab(tmp_path, s3={"bucket": BUCKET, "region": REGION, **(s3 or {})})
        owner = lab if policy_host == "bk01" else Lab(
            tmp_path / policy_host, host=policy_host, s3={"bucket": BUCKET, "region": REGION})
        policies = owner.fleet / "iam"
        name = f"backup-{BUCKET}_backup+{policy_host}"
        iam = motolib.admin_client("iam", moto.url)
        role = iam.create_role(RoleName=name, AssumeRolePolicyDocument=(
            policies / f"{name}.trust.json").read_text())["Role"]
        iam.put_role_policy(RoleName=name, PolicyName=name,
                            PolicyDocument=(policies / f"{name}.policy.json").read_text())
        s3_client = motolib.admin_client("s3", moto.url)
        s3_client.create_bucket(Bucket=BUCKET,
                                CreateBucketConfiguration={"LocationConstraint": REGION})
        credentials = motolib.admin_client("sts", moto.url).assume_role(
            RoleArn=role["Arn"], RoleSessionName="i-0123456789abcdef0")["Credentials"]
        imds = Imds(role=name, credentials=credentials)
        imds_servers.append(imds)
        moto_auth(moto, True)
        try:
            result = lab.run(env={"BOOTSTRAP_IMDS_ENDPOINT": imds.url,
                                  "BOOTSTRAP_S3_ENDPOINT": moto.url, "BOOTSTRAP_ATTEMPTS": "2",
                                  "BOOTSTRAP_RETRY_DELAY": "0", "TMPDIR": str(tmp_path)})
        finally:
            moto_auth(moto, False)
        return lab, result

    yield run
    moto_auth(moto, False)
    for imds in imds_servers:
        imds.stop()


def test_the_new_snapshot_is_uploaded_as_one_encrypted_archive(upload_lab, moto):
    lab, result = upload_lab()
    assert result.returncode == 0, result.stderr
    [snapshot] = lab.snapshots()
    key = f"backup/bk01/{snapshot}.tar.gz"
    assert f"upload: snapshot {snapshot} to s3://{BUCKET}/{key} (" in result.stderr
    s3 = motolib.admin_client("s3", moto.url)
    head = s3.head_object(Bucket=BUCKET, Key=key)
    assert head["ServerSideEncryption"] == "AES256"
    assert head["StorageClass"] == "STANDARD_IA"
    assert head["ContentType"] == "application/gzip"
    body = s3.get_object(Bucket=BUCKET, Key=key)["Body"].read()
    with tarfile.open(fileobj=io.BytesIO(body), mode="r:gz") as archive:
        names = archive.getnames()
        member = f"{snapshot}/local/{str(lab.sources[0]).lstrip('/')}/hosts"
        assert member in names
        extracted = archive.extractfile(member)
        assert extracted is not None and extracted.read() == b"127.0.0.1 localhost\n"
    # Nothing is left of the upload on the host: no archive, no part.
    assert not list(lab.target.rglob("*.tar.gz"))


def test_an_sse_kms_location_uploads_with_its_key(upload_lab, moto):
    key_arn = motolib.admin_client("kms", moto.url).create_key()["KeyMetadata"]["Arn"]
    lab, result = upload_lab({"kms_key_arn": key_arn, "storage_class": "STANDARD",
                              "prefix": "backup"})
    assert result.returncode == 0, result.stderr
    [snapshot] = lab.snapshots()
    head = motolib.admin_client("s3", moto.url).head_object(
        Bucket=BUCKET, Key=f"backup/bk01/{snapshot}.tar.gz")
    assert head["ServerSideEncryption"] == "aws:kms"
    assert head["SSEKMSKeyId"] == key_arn


def test_a_role_without_the_policy_fails_the_run_clearly_and_keeps_the_snapshot(upload_lab):
    lab, result = upload_lab(policy_host="bk02")
    assert result.returncode == 1
    assert "S3 answered 403 AccessDenied to CreateMultipartUpload for " \
        f"s3://{BUCKET}/backup/bk01/" in result.stderr, result.stderr
    assert f"give it the policy _fleet/iam/backup-{BUCKET}_backup+bk01.policy.json" \
        in result.stderr
    # The snapshot on the mirror is made: only its copy to S3 failed.
    assert len(lab.snapshots()) == 1
