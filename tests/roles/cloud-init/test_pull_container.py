"""The S3 pull for real: the stub of the rendered user-data runs in a Debian container.

moto in server mode plays S3, IAM and STS over HTTP on loopback, with signature and IAM policy
checks on: the build is put there by ``bootstrap publish``, the instance role is made from the
build's own ``_fleet/iam/publish-<host>`` policy, and a loopback IMDSv2 hands the container that
role's temporary credentials. The container runs the stub exactly as the user-data holds it.

Two roles of the inventory's own: ``app`` has a first-boot script, a secret token and an apply
step; ``web`` has files and an apply step, no first-boot script. Each script appends to a log
under /var/lib/pulled, so a test sees what ran, in which order, how many times.
"""

from __future__ import annotations

import hashlib
import json
import subprocess
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml
from support import docker, waits
from support import moto as motolib
from support.cli import run_cli, write_tree
from support.imds import INSTANCE_ID, Imds
from support.userdata import parts

from bootstrap.cloud.ssm import outcome

BUCKET = "fleet-pull"
PREFIX = "boot/fleet/"
REGION = "eu-west-1"
TOKEN = "TOKEN-b9c1e0f4a7"
STUB_BUDGET = 2048

ROLES = {
    "roles/app/role.yml": """
        description: an app with a first-boot script, a secret token and an apply step
        apply: /usr/local/sbin/app-apply
        artifacts:
          - template: app/first-boot.sh.j2
            dest: /usr/local/sbin/app-first-boot
            mode: "0755"
            userdata: script
          - template: app/apply.sh.j2
            dest: /usr/local/sbin/app-apply
            mode: "0755"
          - template: app/app.conf.j2
            dest: /etc/app/app.conf
            mode: "0640"
            owner: root:adm
            userdata: file
          - template: app/token.j2
            dest: /etc/app/token
            mode: "0600"
            userdata: file
        """,
    "templates/app/first-boot.sh.j2": """
        #!/bin/sh
        set -eu
        mkdir -p /var/lib/pulled
        echo "first-boot app $(cat /etc/app/app.conf | head -n 1)" >> /var/lib/pulled/log
        """,
    "templates/app/apply.sh.j2": """
        #!/bin/sh
        echo "apply app" >> /var/lib/pulled/log
        """,
    "templates/app/app.conf.j2": "name = {{ vars.app_name }}\n",
    "templates/app/token.j2": "{{ vars.app_token }}\n",
    "roles/web/role.yml": """
        description: a web server with files and an apply step, no first-boot script
        apply: echo "apply web $(cat /etc/web/site.conf)" >> /var/lib/pulled/log && test -s /etc/web/site.conf
        artifacts:
          - template: web/site.conf.j2
            dest: /etc/web/site.conf
            mode: "0644"
          - template: web/index.html.j2
            dest: /srv/www/index.html
            mode: "0444"
        """,
    "templates/web/site.conf.j2": "port={{ vars.web_port }}\n",
    "templates/web/index.html.j2": "<h1>{{ host.name }}</h1>\n",
    "secrets/token": TOKEN + "\n",
}


def inventory(folder: Path, web_port: int = 8080, apply_web: str | None = None) -> Path:
    files = dict(ROLES)
    if apply_web is not None:
        files["roles/web/role.yml"] = files["roles/web/role.yml"].replace(
            files["roles/web/role.yml"].split("apply: ")[1].split("\n")[0], apply_web)
    write_tree(folder, files)
    hosts = {name: {"app_name": name} for name in ("app01", "app02")}
    # As bootstrap launch --write-inventory records it: push --via ssm sends to that instance.
    hosts["app01"]["ec2_instance_id"] = INSTANCE_ID
    doc = {"all": {"vars": {
        "bootstrap_roles": ["ec2-instance", "cloud-init", "app", "web"],
        "web_port": web_port,
        "app_token": {"file": "secrets/token"},
        "aws": {"ami": "ami-0d1e2b3c4a5f60718", "region": REGION,
                "publish": {"bucket": BUCKET, "prefix": PREFIX}},
        "cloud_init": {"delivery": "s3"},
    }, "hosts": hosts}}
    (folder / "hosts.yml").write_text(yaml.safe_dump(doc, sort_keys=False))
    return folder


@dataclass
class Lab:
    image: str
    moto: motolib.MotoServer
    work: Path

    def auth(self, count: str) -> None:
        """moto's signature and IAM checks: on after ``count`` more requests ("inf": off)."""
        request = urllib.request.Request(f"{self.moto.url}/moto-api/reset-auth",
                                         data=count.encode(), method="POST",
                                         headers={"Content-Type": "text/plain"})
        with urllib.request.urlopen(request, timeout=waits.allowance(10)):
            pass

    def s3(self) -> Any:
        return motolib.admin_client("s3", self.moto.url, REGION)


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lab]:
    missing = docker.available() or motolib.available()
    if missing:
        pytest.skip(f"the S3 pull in a container: {missing}")
    daemon = docker.ensure_daemon()
    try:
        image = docker.image("pull-node", ["curl", "ca-certificates"])
        work = tmp_path_factory.mktemp("pull-lab")
        with motolib.moto_server(work / "moto.log") as server:
            yield Lab(image, server, work)
    finally:
        docker.stop_daemon(daemon)


@dataclass
class Fleet:
    """One inventory, rendered and published, and the instance role's credentials."""

    lab: Lab
    inv: Path
    build: Path
    credentials: dict[str, str]

    def cli(self, *args: str | Path) -> Any:
        return run_cli(*args, env={**motolib.FAKE_CREDENTIALS})

    def republish(self, **changes: Any) -> None:
        inventory(self.inv, **changes)
        result = self.cli("render", self.inv, "-o", self.build)
        assert result.rc == 0, result.err
        self.lab.auth("inf")
        result = self.cli("publish", self.inv, "-b", self.build, "--endpoint-url",
                          self.lab.moto.url)
        self.lab.auth("0")
        assert result.rc == 0, result.err
        assert TOKEN not in result.out + result.err

    def push_ssm(self) -> str:
        """``bootstrap push --via ssm`` for app01: the script text its SendCommand carries."""
        self.lab.auth("inf")
        try:
            result = self.cli("push", "--via", "ssm", self.inv, "-b", self.build, "--limit",
                              "app01", "--endpoint-url", self.lab.moto.url)
            assert result.rc == 0, result.out + result.err
            ssm = motolib.admin_client("ssm", self.lab.moto.url, REGION)
            [command] = [c for c in ssm.list_commands()["Commands"]
                         if c["Comment"].startswith("bootstrap pull app01 ")][-1:]
        finally:
            self.lab.auth("0")
        assert command["DocumentName"] == "AWS-RunShellScript"
        assert command["InstanceIds"] == [INSTANCE_ID]
        [script] = command["Parameters"]["commands"]
        return str(script)

    def stub(self, host: str = "app01") -> str:
        """The pull stub exactly as the host's user-data carries it."""
        found = [c for _, kind, c in parts((self.build / host / "user-data").read_bytes())
                 if kind == "text/x-shellscript"]
        assert len(found) == 1
        return found[0].decode()

    def manifest(self, host: str = "app01") -> dict[str, Any]:
        return json.loads((self.build / host / "manifest.json").read_text())

    def get(self, key: str) -> bytes:
        """An object of the bucket, read by the test itself (checks off for that read)."""
        self.lab.auth("inf")
        try:
            return bytes(self.lab.s3().get_object(Bucket=BUCKET, Key=key)["Body"].read())
        finally:
            self.lab.auth("0")

    def published_digest(self, host: str = "app01") -> str:
        return hashlib.sha256(self.get(f"{PREFIX}hosts/{host}.json")).hexdigest()

    def status_command(self, expect: int = 0) -> str:
        """``bootstrap status`` for app01 (checks off: the CLI signs as the test's admin)."""
        self.lab.auth("inf")
        try:
            result = self.cli("status", self.inv, "--limit", "app01", "--endpoint-url",
                              self.lab.moto.url)
        finally:
            self.lab.auth("0")
        assert result.rc == expect, result.out + result.err
        if expect == 0:
            row = result.out.splitlines()[1].split()
            assert row[:3] == ["app01", INSTANCE_ID, "converged"], result.out
            assert row[3] == row[4] == self.published_digest()[:12]
        return str(result.out)

    def status(self) -> dict[str, Any]:
        return dict(json.loads(self.get(f"{PREFIX}status/{INSTANCE_ID}.json")))


@pytest.fixture
def fleet(lab: Lab, tmp_path: Path) -> Fleet:
    """Rendered, published by ``bootstrap publish``, the role of app01 made from the build."""
    lab.moto.reset()
    lab.auth("inf")
    lab.s3().create_bucket(Bucket=BUCKET, CreateBucketConfiguration={"LocationConstraint": REGION})
    inv = inventory(tmp_path / "inv")
    build = tmp_path / "build"
    made = Fleet(lab, inv, build, {})
    made.republish()
    lab.auth("inf")
    iam = motolib.admin_client("iam", lab.moto.url, REGION)
    policies = build / "_fleet" / "iam"
    role = iam.create_role(RoleName="publish-app01", AssumeRolePolicyDocument=(
        policies / "publish-app01.trust.json").read_text())["Role"]
    iam.put_role_policy(RoleName="publish-app01", PolicyName="publish-app01",
                        PolicyDocument=(policies / "publish-app01.policy.json").read_text())
    sts = motolib.admin_client("sts", lab.moto.url, REGION)
    made.credentials = sts.assume_role(RoleArn=role["Arn"],
                                       RoleSessionName=INSTANCE_ID)["Credentials"]
    lab.auth("0")  # from here on every request must be signed and allowed by the policy
    return made


@dataclass
class Node:
    """A container standing for the instance, with a loopback IMDSv2 of the role."""

    name: str
    env: list[str]

    def pull(self, stub: str, shell: str | None = None) -> subprocess.CompletedProcess[str]:
        """Run the stub as cloud-init runs a user-data script (a file, executed), or as SSM's
        AWS-RunShellScript runs its commands (a file, run by ``shell``)."""
        proc = subprocess.run(["docker", "exec", "-i", self.name, "sh", "-c",
                               "cat > /run/stub && chmod 700 /run/stub"], input=stub, text=True,
                              capture_output=True)
        assert proc.returncode == 0, proc.stderr
        command = [shell, "/run/stub"] if shell else ["/run/stub"]
        return subprocess.run(["docker", "exec", *self.env, self.name, *command],
                              capture_output=True, text=True, timeout=waits.allowance(300))

    def sh(self, command: str) -> str:
        return docker.exec_(self.name, ["sh", "-c", command], check=False).stdout

    def read(self, path: str) -> bytes:
        return subprocess.run(["docker", "exec", self.name, "cat", path],
                              capture_output=True, check=True).stdout

    def log(self) -> list[str]:
        return self.sh("cat /var/lib/pulled/log 2>/dev/null").splitlines()

    def inodes(self, paths: list[str]) -> dict[str, str]:
        return {p: self.sh(f"stat -c %i {p}").strip() for p in paths}


@pytest.fixture
def node(lab: Lab, fleet: Fleet) -> Iterator[Node]:
    imds = Imds(INSTANCE_ID, "publish-app01", fleet.credentials)
    name = docker.run(lab.image, docker.unique("pull-node"), ["sleep", "infinity"])
    try:
        yield Node(name, ["-e", f"BOOTSTRAP_IMDS_ENDPOINT={imds.url}",
                          "-e", f"BOOTSTRAP_S3_ENDPOINT={lab.moto.url}",
                          "-e", "BOOTSTRAP_ATTEMPTS=2", "-e", "BOOTSTRAP_RETRY_DELAY=0"])
    finally:
        docker.remove(name)
        imds.stop()


def assert_installed(fleet: Fleet, node: Node, host: str = "app01") -> None:
    """Every file of the host's build is on the node byte for byte, with its mode and owner."""
    for record in fleet.manifest(host)["files"]:
        dest = record["dest"]
        assert node.read(dest) == (fleet.build / host / record["path"]).read_bytes(), dest
        mode, owner = node.sh(f"stat -c '%a %U:%G' {dest}").split()
        assert int(mode, 8) == int(record["mode"], 8), dest
        assert owner == record["owner"], dest


def error_line(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode == 1, result.stderr
    return result.stderr.strip().splitlines()[-1]


# -- the first boot and an update ---------------------------------------------------------------


def test_the_stub_is_small_and_carries_no_file_or_secret(fleet):
    stub = fleet.stub()
    assert len(stub.encode()) <= STUB_BUDGET
    user_data = (fleet.build / "app01" / "user-data").read_bytes()
    assert TOKEN.encode() not in user_data
    assert b"name = app01" not in user_data and b"port=" not in user_data
    assert f"M={fleet.published_digest()}" in stub


def test_the_stub_installs_the_build_runs_first_boot_and_apply_and_reports(fleet, node):
    result = node.pull(fleet.stub())
    assert result.returncode == 0, result.stderr
    assert_installed(fleet, node)
    assert node.read("/etc/app/token") == f"{TOKEN}\n".encode()
    # First boot: app's first-boot script (not its apply step); web has none, so its apply ran.
    assert node.log() == ["first-boot app name = app01", "apply web port=8080"]
    assert node.sh("ls -A /etc/app /etc/web /srv/www | grep bootstrap-pull") == ""
    status = fleet.status()
    assert status["result"] == "ok" and status["instance_id"] == INSTANCE_ID
    assert status["manifest"] == status["wanted"] == fleet.published_digest()
    assert status["host"] == "app01" and status["step"] is None
    assert status["replaced"] == len(fleet.manifest()["files"])

    # A changed inventory, republished; the exact script push --via ssm sends, run as SSM runs
    # it, replaces only the file that changed and runs only its role's apply step.
    paths = [r["dest"] for r in fleet.manifest()["files"]]
    before = node.inodes(paths)
    fleet.republish(web_port=9090)
    script = fleet.push_ssm()
    assert script == fleet.stub()
    again = node.pull(script, shell="sh")
    assert again.returncode == 0, again.stderr
    assert_installed(fleet, node)
    after = node.inodes(paths)
    assert [p for p in paths if before[p] != after[p]] == ["/etc/web/site.conf"]
    assert node.log()[2:] == ["apply web port=9090"]
    assert "1 files replaced" in again.stderr
    # What push --via ssm reports from that output (SSM hands back the script's stderr).
    reported = outcome("app01", {"InstanceId": INSTANCE_ID, "Status": "Success",
                                 "StandardErrorContent": again.stderr}, 1.0)
    assert reported.describe() == "changed: 1 file replaced"
    status = fleet.status()
    assert status["result"] == "ok" and status["replaced"] == 1
    assert status["manifest"] == fleet.published_digest()

    # Nothing changed: nothing replaced, nothing run.
    third = node.pull(fleet.stub())
    assert third.returncode == 0, third.stderr
    assert node.inodes(paths) == after and len(node.log()) == 3

    # bootstrap status reads the record the pull wrote: converged, then behind once the
    # inventory changes again and is published.
    assert fleet.status_command().startswith("HOST")
    fleet.republish(web_port=9191)
    assert fleet.status_command(expect=2).splitlines()[1].split()[2] == "behind"


# -- failures: one clear line, nothing half-installed, a failed status record ---------------------


def first_then_republished(fleet: Fleet, node: Node) -> tuple[dict[str, bytes], str]:
    """The node pulled the first build; a second build (web port 9090) is published."""
    assert node.pull(fleet.stub()).returncode == 0
    files = {r["dest"]: node.read(r["dest"]) for r in fleet.manifest()["files"]}
    first = fleet.published_digest()
    fleet.republish(web_port=9090)
    return files, first


def assert_intact(node: Node, files: dict[str, bytes]) -> None:
    for dest, data in files.items():
        assert node.read(dest) == data, dest
    assert node.sh("find / -xdev -name '.bootstrap-pull.*' 2>/dev/null") == ""


def assert_failed_status(fleet: Fleet, first: str, words: str) -> None:
    status = fleet.status()
    assert status["result"] == "failed", status
    assert status["manifest"] == first and status["wanted"] == fleet.published_digest()
    assert words in status["output"]


def site_digest(fleet: Fleet) -> str:
    return next(r["sha256"] for r in fleet.manifest()["files"] if r["dest"] == "/etc/web/site.conf")


def test_a_tampered_object_stops_the_pull_before_anything_is_installed(fleet, node):
    files, first = first_then_republished(fleet, node)
    key = f"{PREFIX}objects/{site_digest(fleet)}"
    fleet.lab.auth("inf")
    fleet.lab.s3().put_object(Bucket=BUCKET, Key=key, Body=b"port=6666\n")
    fleet.lab.auth("0")
    line = error_line(node.pull(fleet.stub()))
    assert line == (f"bootstrap-pull: error: s3://{BUCKET}/{key} does not have the sha256 its "
                    "name and the manifest give (tampered with?)")
    assert_intact(node, files)
    assert len(node.log()) == 2
    assert_failed_status(fleet, first, key)
    failed = node.pull(fleet.stub(), shell="sh")
    reported = outcome("app01", {"InstanceId": INSTANCE_ID, "Status": "Failed",
                                 "StandardErrorContent": failed.stderr}, 1.0)
    assert reported.failed and reported.describe() == f"failed: Failed: {line}"


def test_a_missing_object_stops_the_pull_naming_it(fleet, node):
    files, first = first_then_republished(fleet, node)
    key = f"{PREFIX}objects/{site_digest(fleet)}"
    fleet.lab.auth("inf")
    fleet.lab.s3().delete_object(Bucket=BUCKET, Key=key)
    fleet.lab.auth("0")
    line = error_line(node.pull(fleet.stub()))
    # Without s3:ListBucket, S3 tells a missing key as 403; moto answers 404: both name it.
    assert line.startswith("bootstrap-pull: error: S3 answered 40") and \
        f"for s3://{BUCKET}/{key}" in line, line
    assert_intact(node, files)
    assert_failed_status(fleet, first, key)


def test_a_wrong_pinned_digest_stops_the_pull_at_the_manifest(fleet, node):
    files, first = first_then_republished(fleet, node)
    stub = fleet.stub()
    wrong = stub.replace(f"M={fleet.published_digest()}", "M=" + "0" * 64)
    assert wrong != stub
    line = error_line(node.pull(wrong))
    key = f"{PREFIX}hosts/app01.json"
    assert line == f"bootstrap-pull: error: s3://{BUCKET}/{key} does not have the pinned " \
                   f"sha256 {'0' * 64}"
    assert_intact(node, files)
    status = fleet.status()
    assert status["result"] == "failed" and status["manifest"] == first
    assert status["wanted"] == "0" * 64 and key in status["output"]


def test_a_manifest_the_role_may_not_read_is_403_naming_it(fleet, node):
    files, first = first_then_republished(fleet, node)
    # app02's stub: app01's role may read its own manifest only.
    line = error_line(node.pull(fleet.stub("app02")))
    assert line == f"bootstrap-pull: error: S3 answered HTTP 403 for " \
                   f"s3://{BUCKET}/{PREFIX}hosts/app02.json"
    assert_intact(node, files)
    status = fleet.status()
    assert status["result"] == "failed" and status["manifest"] == first
    assert "hosts/app02.json" in status["output"]


def test_a_failing_apply_step_is_reported_with_its_output_and_retried(fleet, node):
    _, first = first_then_republished(fleet, node)
    fleet.republish(web_port=7070, apply_web="echo reload refused >&2; exit 3")
    line = error_line(node.pull(fleet.stub()))
    assert line == "bootstrap-pull: error: apply web failed"
    status = fleet.status()
    assert status["result"] == "failed" and status["step"] == "apply web"
    assert "reload refused" in status["output"]
    assert status["manifest"] == first  # the files are in place, the apply step is not done
    assert node.read("/etc/web/site.conf") == b"port=7070\n"
    # Fixed and republished: the role's apply step runs, though its files did not change again.
    fleet.republish(web_port=7070, apply_web="echo applied-again >> /var/lib/pulled/log")
    result = node.pull(fleet.stub())
    assert result.returncode == 0, result.stderr
    assert node.log()[-1] == "applied-again"
    assert fleet.status()["result"] == "ok"
