"""`bootstrap publish --dry-run` asks AWS for no secret: references held in SSM Parameter Store
and Secrets Manager are not fetched (moto in server mode, behind a proxy that records every
request made to those services)."""

from __future__ import annotations

from pathlib import Path

import yaml
from support.cli import run_cli, write_tree
from support.cloud import BUCKET, REGION
from support.moto import FaultProxy

DB_PASSWORD = "Ssm-Publish-Secret-3Xq"
API_TOKEN = "Sm-Publish-Secret-8Lp"
HOSTS = ("app01", "app02")


def inventory(tmp: Path) -> Path:
    doc = {"all": {"children": {"app": {
        "vars": {
            "bootstrap_roles": ["ec2-instance", "app"],
            "db_password": {"ssm": "/app/db-password"},
            "api_token": {"secretsmanager": "app/api-token"},
            "aws": {"ami": "ami-0d1e2b3c4a5f60718", "region": REGION,
                    "publish": {"bucket": BUCKET, "prefix": "pub/fleet"}},
        },
        "hosts": dict.fromkeys(HOSTS),
    }}}}
    inv = write_tree(tmp / "inv", {
        "roles/app/role.yml": """
            apply: systemctl restart app
            artifacts:
              - {template: app/app.conf.j2, dest: /etc/app/app.conf, mode: "0600"}
            """,
        "templates/app/app.conf.j2": "db = {{ vars.db_password }}\ntoken = {{ vars.api_token }}\n",
    })
    (inv / "hosts.yml").write_text(yaml.safe_dump(doc, sort_keys=False))
    return inv


def test_publish_dry_run_fetches_no_ssm_or_secrets_manager_reference(cloud):
    cloud.client("ssm").put_parameter(Name="/app/db-password", Value=DB_PASSWORD,
                                      Type="SecureString")
    cloud.client("secretsmanager").create_secret(Name="app/api-token", SecretString=API_TOKEN)
    inv = inventory(cloud.tmp)
    # Every SSM and Secrets Manager request goes through the proxy; S3 goes straight to moto.
    proxy = FaultProxy(cloud.endpoint)
    try:
        env = {**cloud.env, "AWS_REGION": REGION, "AWS_ENDPOINT_URL": proxy.url}
        rendered = run_cli("render", inv, "-o", cloud.build, env=env)
        assert rendered.rc == 0, rendered.err
        assert len(proxy.seen) == 2  # the render reads each reference once
        proxy.seen.clear()
        dry = run_cli("publish", inv, "-b", cloud.build, "--endpoint-url", cloud.endpoint,
                      "--dry-run", env=env)
        assert dry.rc == 0, dry.err
        assert proxy.seen == []
        # One object (both hosts' file is the same) and two manifests.
        assert dry.out.splitlines()[-1].startswith("dry run: 2 hosts, would make 3 PUT requests")
        real = run_cli("publish", inv, "-b", cloud.build, "--endpoint-url", cloud.endpoint,
                       env=env)
        assert real.rc == 0, real.err
        assert len(proxy.seen) == 2  # a real publish renders to compare, reading each once
    finally:
        proxy.stop()
    for result in (rendered, dry, real):
        assert DB_PASSWORD not in result.out + result.err
        assert API_TOKEN not in result.out + result.err
        assert "Traceback" not in result.err
    built = (cloud.build / "app01" / "files" / "etc" / "app" / "app.conf").read_text()
    assert built == f"db = {DB_PASSWORD}\ntoken = {API_TOKEN}\n"
