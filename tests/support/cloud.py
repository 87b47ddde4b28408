"""The moto server and the cloud handle the launch and terminate tests share.

Registered from tests/conftest.py as a plugin, so its fixtures serve every test module: ``moto``
(one server per module) and ``cloud`` (that server, reset, with the test's build folder).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from support.cli import ROOT, run_cli
from support.moto import FAKE_CREDENTIALS, MotoServer, admin_client, moto_server

REGION = "eu-west-1"
BUCKET = "fleet-boot"

# moto's images are the example inventory's two AMIs only (it lists them fast, and the example
# inventory launches as it is).
AMIS = ROOT / "tests" / "fixtures" / "aws" / "example-amis.json"
DEBIAN_AMI = "ami-0d1e2b3c4a5f60718"


@pytest.fixture(scope="module")
def moto(tmp_path_factory) -> MotoServer:
    log = tmp_path_factory.mktemp("moto") / "moto.log"
    with moto_server(log, env={"MOTO_AMIS_PATH": str(AMIS)}) as server:
        yield server


class Cloud:
    """The moto server of one test, with what the test needs to set up and inspect it."""

    def __init__(self, server: MotoServer, tmp: Path) -> None:
        self.server = server
        self.endpoint = server.url
        self.tmp = tmp
        self.build = tmp / "build"
        self.env: dict[str, str | None] = dict(FAKE_CREDENTIALS)
        self.ami = DEBIAN_AMI
        self.client("s3").create_bucket(Bucket=BUCKET, CreateBucketConfiguration={
            "LocationConstraint": REGION})

    def client(self, service: str) -> Any:
        return admin_client(service, self.endpoint, REGION)

    def render(self, inv: Path) -> None:
        result = run_cli("render", inv, "-o", self.build)
        assert result.rc == 0, result.err

    def launch(self, inv: Path, *args: str, endpoint: str | None = None,
               env: dict[str, str | None] | None = None):  # type: ignore[no-untyped-def]
        return run_cli("launch", inv, *args, "-b", self.build, "--endpoint-url",
                       endpoint or self.endpoint, env={**self.env, **(env or {})})

    def instances(self, host: str) -> list[dict[str, Any]]:
        found = self.client("ec2").describe_instances(Filters=[
            {"Name": "tag:bootstrap:host", "Values": [host]}])
        return [i for r in found["Reservations"] for i in r["Instances"]
                if i["State"]["Name"] != "terminated"]


@pytest.fixture
def cloud(moto: MotoServer, tmp_path: Path) -> Cloud:
    moto.reset()
    return Cloud(moto, tmp_path)
