"""``{ssm: NAME}`` and ``{secretsmanager: ID, key: FIELD}`` references, read from moto in server
mode over HTTP, as boto3 reads them from AWS (the endpoint from ``AWS_ENDPOINT_URL``).

A small proxy between the tool and moto counts the requests (one per distinct parameter or
secret per run) and answers chosen ones with an AWS error (access denied).
"""

from __future__ import annotations

import base64
import http.client
import json
import stat
import threading
import urllib.parse
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import yaml
from support import waits
from support.cli import Result, one_error, run_cli
from support.cloud import BUCKET
from support.launch import SECRET_MARK, VALIDATOR
from support.launch import inventory as launch_inventory
from support.moto import FAKE_CREDENTIALS, MotoServer, admin_client, free_port

REGION = "eu-west-1"
DB_PASSWORD = "Ssm-SecureString-Zq8x"
DB_USER = "ssm-string-app-user"
API_TOKEN = "Sm-Plain-Token-7Kq2"
SMTP_PASSWORD = "Sm-Json-Field-Pw-4Lr9"
SMTP_USER = "sm-json-field-user"
SECRETS = (DB_PASSWORD, API_TOKEN, SMTP_PASSWORD)

TEMPLATE = """\
version = {{ vars.app_version }}
db_user = {{ vars.app.db_user | ini }}
db_password = {{ vars.app.db_password | ini }}
api_token = {{ vars.app.api_token | ini }}
smtp_user = {{ vars.app.smtp_user | ini }}
smtp_password = {{ vars.app.smtp_password | ini }}
"""

REFS = {
    "db_user": {"ssm": "/app/db-user"},
    "db_password": {"ssm": "/app/db-password"},
    "api_token": {"secretsmanager": "app/api-token"},
    "smtp_user": {"secretsmanager": "app/smtp", "key": "user"},
    "smtp_password": {"secretsmanager": "app/smtp", "key": "password"},
}


# -- a counting, fault-injecting proxy for AWS's JSON protocol ------------------------------------


class JsonProxy:
    """Forwards to moto; records ``(action, name)`` of every request (``GetParameter``,
    ``GetSecretValue``) and answers those named in :attr:`faults` with that AWS error."""

    def __init__(self, upstream: str) -> None:
        self.upstream = urllib.parse.urlsplit(upstream)
        self.seen: list[tuple[str, str]] = []
        self.faults: dict[str, tuple[str, str]] = {}  # action -> (error code, message)
        self._lock = threading.Lock()
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:
                proxy._handle(self)

            def log_message(self, format: str, *args: object) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    def count(self, action: str, name: str | None = None) -> int:
        return sum(1 for a, n in self.seen if a == action and name in (None, n))

    def _handle(self, request: BaseHTTPRequestHandler) -> None:
        body = request.rfile.read(int(request.headers.get("Content-Length") or 0))
        action = (request.headers.get("X-Amz-Target") or "").rpartition(".")[2]
        try:
            fields = json.loads(body or b"{}")
        except ValueError:
            fields = {}
        with self._lock:
            self.seen.append((action, str(fields.get("Name") or fields.get("SecretId") or "")))
            fault = self.faults.get(action)
        if fault is not None:
            self._answer(request, 400, json.dumps({"__type": fault[0],
                                                   "message": fault[1]}).encode())
            return
        conn = http.client.HTTPConnection(self.upstream.hostname or "127.0.0.1",
                                          self.upstream.port, timeout=waits.allowance(60))
        try:
            conn.request("POST", request.path, body=body, headers=dict(request.headers.items()))
            response = conn.getresponse()
            self._answer(request, response.status, response.read())
        finally:
            conn.close()

    @staticmethod
    def _answer(request: BaseHTTPRequestHandler, status: int, data: bytes) -> None:
        request.send_response(status)
        request.send_header("Content-Type", "application/x-amz-json-1.1")
        request.send_header("Content-Length", str(len(data)))
        request.end_headers()
        request.wfile.write(data)

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=waits.allowance(10))


# -- fixtures -----------------------------------------------------------------------------------


@pytest.fixture
def aws(moto: MotoServer) -> Iterator[JsonProxy]:
    """moto, reset and holding the parameters and secrets; the proxy the tool talks to."""
    moto.reset()
    ssm = admin_client("ssm", moto.url, REGION)
    ssm.put_parameter(Name="/app/db-password", Value=DB_PASSWORD, Type="SecureString")
    ssm.put_parameter(Name="/app/db-user", Value=DB_USER, Type="String")
    manager = admin_client("secretsmanager", moto.url, REGION)
    manager.create_secret(Name="app/api-token", SecretString=API_TOKEN)
    manager.create_secret(Name="app/smtp", SecretString=json.dumps(
        {"user": SMTP_USER, "password": SMTP_PASSWORD, "port": 587, "tls": {"on": True}}))
    manager.create_secret(Name="app/not-json", SecretString="plain-NotJson-Secret-9")
    proxy = JsonProxy(moto.url)
    yield proxy
    proxy.stop()


def env_for(proxy: JsonProxy, **extra: str | None) -> dict[str, str | None]:
    """Fake credentials, the region, and the proxy as every AWS endpoint."""
    return {**FAKE_CREDENTIALS, "AWS_REGION": REGION, "AWS_ENDPOINT_URL": proxy.url,
            "AWS_ENDPOINT_URL_SSM": None, "AWS_ENDPOINT_URL_SECRETS_MANAGER": None, **extra}


def inventory(tree, hosts: dict[str, dict[str, Any]], version: str = "1.0") -> Path:
    """Hosts of role ``app``, whose /etc/app.ini prints vars.app; the group sets REFS."""
    doc = {"all": {"children": {"apps": {
        "vars": {"bootstrap_roles": ["app"], "app_version": version, "app": dict(REFS)},
        "hosts": hosts}}}}
    return tree({
        "hosts.yml": yaml.safe_dump(doc, sort_keys=False),
        "roles/app/role.yml": "artifacts:\n  - {template: app.ini.j2, dest: /etc/app.ini}\n",
        "templates/app.ini.j2": TEMPLATE,
    })


def one_secret(tree, passwords: dict[str, Any]) -> Path:
    """Hosts whose /etc/app.ini prints their app_password."""
    hosts = {h: {"bootstrap_roles": ["app"], "app_password": p} for h, p in passwords.items()}
    return tree({
        "hosts.yml": yaml.safe_dump({"all": {"hosts": hosts}}, sort_keys=False),
        "roles/app/role.yml": "artifacts:\n  - {template: app.ini.j2, dest: /etc/app.ini}\n",
        "templates/app.ini.j2": "password = {{ vars.app_password | ini }}\n",
    })


def line_of(path: Path, text: str) -> int:
    """The line of the last ``text`` in the file (a host's own value comes after its group's)."""
    return [n for n, line in enumerate(path.read_text().splitlines(), 1) if text in line][-1]


def assert_no_secret(result: Result) -> None:
    for secret in (*SECRETS, "plain-NotJson-Secret-9"):
        assert secret not in result.out + result.err
    assert "Traceback" not in result.err


# -- resolving ----------------------------------------------------------------------------------


def test_render_writes_ssm_and_secrets_manager_values_into_the_built_file_only(tmp_path, tree,
                                                                              aws):
    inv = inventory(tree, {"app1": None})
    build = tmp_path / "b"
    result = run_cli("render", inv, "-o", build, env=env_for(aws))
    assert result.rc == 0, result.err
    assert_no_secret(result)
    real = build / "app1/files/etc/app.ini"
    assert real.read_text() == (
        "version = 1.0\n"
        f"db_user = {DB_USER}\n"
        f"db_password = {DB_PASSWORD}\n"
        f"api_token = {API_TOKEN}\n"
        f"smtp_user = {SMTP_USER}\n"
        f"smtp_password = {SMTP_PASSWORD}\n")
    assert stat.S_IMODE(real.stat().st_mode) == 0o600
    copy = (build / "app1/.redacted/files/etc/app.ini").read_text()
    assert copy == (
        "version = 1.0\n"
        "db_user = <secret:ssm:/app/db-user>\n"
        "db_password = <secret:ssm:/app/db-password>\n"
        "api_token = <secret:secretsmanager:app/api-token>\n"
        "smtp_user = <secret:secretsmanager:app/smtp#user>\n"
        "smtp_password = <secret:secretsmanager:app/smtp#password>\n")
    # The diff of a later render shows the placeholders around what changed, never a value.
    ssm = admin_client("ssm", aws.upstream.geturl(), REGION)
    ssm.put_parameter(Name="/app/db-password", Value="Rotated-" + DB_PASSWORD,
                      Type="SecureString", Overwrite=True)
    inventory(tree, {"app1": None}, version="1.1")
    again = run_cli("render", inv, "-o", build, "--diff", env=env_for(aws))
    assert again.rc == 0, again.err
    assert_no_secret(again)
    assert "Rotated-" not in again.out + again.err
    assert "-version = 1.0" in again.out and "+version = 1.1" in again.out
    assert " db_password = <secret:ssm:/app/db-password>" in again.out
    assert f"db_password = Rotated-{DB_PASSWORD}\n" in real.read_text()


def test_a_json_field_that_is_a_number_renders_as_json(tmp_path, tree, aws):
    inv = inventory(tree, {"app1": {"app": {**REFS, "smtp_user": {
        "secretsmanager": "app/smtp", "key": "port"}}}})
    result = run_cli("render", inv, "-o", tmp_path / "b", env=env_for(aws))
    assert result.rc == 0, result.err
    assert "smtp_user = 587\n" in (tmp_path / "b/app1/files/etc/app.ini").read_text()


def test_each_distinct_reference_is_fetched_once_per_run_for_many_hosts(tmp_path, tree, aws):
    hosts = {f"app{i}": None for i in range(1, 9)}
    # app8 also has a parameter of its own.
    admin_client("ssm", aws.upstream.geturl(), REGION).put_parameter(
        Name="/app/app8/db-password", Value="App8-Own-Pw", Type="SecureString")
    hosts["app8"] = {"app": {**REFS, "db_password": {"ssm": "/app/app8/db-password"}}}
    inv = inventory(tree, hosts)
    result = run_cli("render", inv, "-o", tmp_path / "b", env=env_for(aws))
    assert result.rc == 0, result.err
    for i in range(1, 8):
        assert DB_PASSWORD in (tmp_path / f"b/app{i}/files/etc/app.ini").read_text()
    assert "App8-Own-Pw" in (tmp_path / "b/app8/files/etc/app.ini").read_text()
    assert aws.count("GetParameter", "/app/db-password") == 1
    assert aws.count("GetParameter", "/app/db-user") == 1
    assert aws.count("GetParameter", "/app/app8/db-password") == 1
    # Two fields of app/smtp, one read of the secret.
    assert aws.count("GetSecretValue", "app/smtp") == 1
    assert aws.count("GetSecretValue", "app/api-token") == 1
    assert len(aws.seen) == 5
    # Another run reads them again: values are kept for one run only.
    again = run_cli("render", inv, "-o", tmp_path / "b", env=env_for(aws))
    assert again.rc == 0, again.err
    assert len(aws.seen) == 10


def test_service_endpoint_variables_and_a_region_in_the_reference(tmp_path, tree, aws):
    admin_client("ssm", aws.upstream.geturl(), "us-east-1").put_parameter(
        Name="/app/db-password", Value="Virginia-Pw-3Hh", Type="SecureString")
    refs = {**REFS, "db_password": {"ssm": "/app/db-password", "region": "us-east-1"}}
    inv = inventory(tree, {"app1": {"app": refs}})
    # No AWS_ENDPOINT_URL: each service's own variable, as botocore reads them.
    env = env_for(aws, AWS_ENDPOINT_URL=None, AWS_ENDPOINT_URL_SSM=aws.url,
                  AWS_ENDPOINT_URL_SECRETS_MANAGER=aws.url)
    result = run_cli("render", inv, "-o", tmp_path / "b", env=env)
    assert result.rc == 0, result.err
    text = (tmp_path / "b/app1/files/etc/app.ini").read_text()
    assert "db_password = Virginia-Pw-3Hh\n" in text and f"api_token = {API_TOKEN}\n" in text
    assert len(aws.seen) == 4


def test_a_region_in_every_reference_needs_no_region_from_the_environment(tmp_path, tree, aws):
    refs = {k: {**v, "region": REGION} for k, v in REFS.items()}
    inv = inventory(tree, {"app1": {"app": refs}})
    env = env_for(aws, AWS_REGION=None, AWS_DEFAULT_REGION=None)
    result = run_cli("render", inv, "-o", tmp_path / "b", env=env)
    assert result.rc == 0, result.err
    assert f"smtp_password = {SMTP_PASSWORD}\n" in (tmp_path / "b/app1/files/etc/app.ini").read_text()


# -- errors -------------------------------------------------------------------------------------


ERRORS = {
    "missing parameter": ({"ssm": "/app/nope"}, {},
                          ["<secret:ssm:/app/nope>", "no such parameter",
                           "SSM Parameter Store (eu-west-1)"]),
    "missing secret": ({"secretsmanager": "app/nope"}, {},
                       ["<secret:secretsmanager:app/nope>", "no such secret",
                        "Secrets Manager (eu-west-1)"]),
    "missing field": ({"secretsmanager": "app/smtp", "key": "passwd"}, {},
                      ["<secret:secretsmanager:app/smtp#passwd>", "no field 'passwd'"]),
    "not json": ({"secretsmanager": "app/not-json", "key": "password"}, {},
                 ["not a JSON object", "no field 'password'"]),
    "field not text": ({"secretsmanager": "app/smtp", "key": "tls"}, {},
                       ["field 'tls'", "is a dict, not a string"]),
    "no credentials": ({"ssm": "/app/db-password"},
                       {"AWS_ACCESS_KEY_ID": None, "AWS_SECRET_ACCESS_KEY": None,
                        "AWS_SESSION_TOKEN": None},
                       ["no AWS credentials found"]),
    "no region": ({"ssm": "/app/db-password"},
                  {"AWS_REGION": None, "AWS_DEFAULT_REGION": None},
                  ["no AWS region", "region:"]),
}


@pytest.mark.parametrize("case", list(ERRORS))
def test_an_unreadable_secret_is_one_line_naming_file_line_host_and_key(tmp_path, tree, aws,
                                                                         case):
    ref, env, words = ERRORS[case]
    # app1 renders; app2's reference fails, and nothing of either host is written.
    inv = one_secret(tree, {"app1": "not-a-secret", "app2": ref})
    result = run_cli("render", inv, "-o", tmp_path / "b", env=env_for(aws, **env))
    one_error(result, f"hosts.yml:{line_of(inv / 'hosts.yml', 'app_password')}", "host app2",
              "key app_password", *words)
    assert_no_secret(result)
    assert not (tmp_path / "b").exists()


@pytest.mark.parametrize(("action", "ref", "code"), [
    ("GetParameter", {"ssm": "/app/db-password"}, "AccessDeniedException"),
    ("GetSecretValue", {"secretsmanager": "app/smtp", "key": "password"},
     "AccessDeniedException"),
    ("GetParameter", {"ssm": "/app/db-password"}, "UnrecognizedClientException"),
])
def test_access_denied_is_one_line_with_what_aws_said(tmp_path, tree, aws, action, ref, code):
    aws.faults[action] = (code, "User: arn:aws:iam::123456789012:user/ci is not authorized "
                                "to perform: this action")
    inv = one_secret(tree, {"app1": ref})
    result = run_cli("render", inv, "-o", tmp_path / "b", env=env_for(aws))
    one_error(result, f"hosts.yml:{line_of(inv / 'hosts.yml', 'app_password')}", "host app1",
              "key app_password", "access denied by", code, "user/ci is not authorized")
    assert_no_secret(result)
    assert not (tmp_path / "b").exists()
    assert aws.count(action) == 1


def test_an_unreachable_endpoint_is_one_line(tmp_path, tree, aws):
    inv = inventory(tree, {"app1": None})
    nowhere = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    result = run_cli("render", inv, "-o", tmp_path / "b",
                     env=env_for(aws, AWS_ENDPOINT_URL=nowhere, AWS_MAX_ATTEMPTS="1"))
    one_error(result, "host app1", "key app.db_user", "cannot reach SSM Parameter Store")
    assert not (tmp_path / "b").exists()


def test_a_failed_render_leaves_the_previous_build_alone(tmp_path, tree, aws):
    inv = inventory(tree, {"app1": None})
    build = tmp_path / "b"
    assert run_cli("render", inv, "-o", build, env=env_for(aws)).rc == 0
    before = (build / "app1/files/etc/app.ini").read_bytes()
    admin_client("ssm", aws.upstream.geturl(), REGION).delete_parameter(Name="/app/db-password")
    inventory(tree, {"app1": None}, version="2.0")
    result = run_cli("render", inv, "-o", build, env=env_for(aws))
    one_error(result, "host app1", "key app.db_password", "no such parameter")
    assert (build / "app1/files/etc/app.ini").read_bytes() == before


@pytest.mark.parametrize(("ref", "words"), [
    ({"secretsmanager": "app/smtp", "field": "password"},
     ["takes only key: and region:", "not field:"]),
    ({"ssm": "/app/db-password", "key": "password"}, ["takes only region:", "not key:"]),
    ({"secretsmanager": "app/smtp", "key": 7}, ["key: of a {secretsmanager: ...} reference",
                                                "non-empty string"]),
    ({"ssm": "/app/db-password", "region": "the-moon"}, ["not an AWS region name"]),
    ({"ssm": ""}, ["must name a parameter"]),
])
def test_a_malformed_reference_is_refused_before_anything_is_fetched(tmp_path, tree, aws, ref,
                                                                     words):
    inv = inventory(tree, {"app1": {"app": {**REFS, "api_token": ref}}})
    result = run_cli("render", inv, "-o", tmp_path / "b", env=env_for(aws))
    one_error(result, f"hosts.yml:{line_of(inv / 'hosts.yml', 'api_token')}", "host app1",
              "key app.api_token", *words)
    assert aws.seen == []


# -- commands that never fetch ------------------------------------------------------------------


@pytest.mark.parametrize("args", [["--host", "app1"], ["--explain", "app1", "app"]])
def test_inventory_shows_placeholders_and_makes_no_request(tree, aws, args):
    inv = inventory(tree, {"app1": None})
    result = run_cli("inventory", inv, *args, env=env_for(aws))
    assert result.rc == 0, result.err
    assert_no_secret(result)
    assert "<secret:ssm:/app/db-password>" in result.out
    assert "<secret:secretsmanager:app/smtp#password>" in result.out
    assert aws.seen == []


def test_inventory_list_shows_the_references_as_written_and_makes_no_request(tree, aws):
    inv = inventory(tree, {"app1": None})
    result = run_cli("inventory", inv, "--list", env=env_for(aws))
    assert result.rc == 0, result.err
    assert_no_secret(result)
    shown = json.loads(result.out)["_meta"]["hostvars"]["app1"]["app"]
    assert shown["smtp_password"] == {"secretsmanager": "app/smtp", "key": "password"}
    assert aws.seen == []


def test_inventory_works_without_aws_credentials_or_region(tree, aws):
    inv = inventory(tree, {"app1": None})
    env = env_for(aws, AWS_ACCESS_KEY_ID=None, AWS_SECRET_ACCESS_KEY=None,
                  AWS_SESSION_TOKEN=None, AWS_REGION=None, AWS_DEFAULT_REGION=None,
                  AWS_ENDPOINT_URL=None)
    result = run_cli("inventory", inv, "--host", "app1", env=env)
    assert result.rc == 0, result.err
    assert json.loads(result.out)["app"]["api_token"] == "<secret:secretsmanager:app/api-token>"


def test_launch_dry_run_reads_no_aws_secret_and_a_launch_reads_each_once(cloud):
    ssm = cloud.client("ssm")
    ssm.put_parameter(Name="/app/db-password", Value=DB_PASSWORD, Type="SecureString")
    cloud.client("secretsmanager").create_secret(Name="chef/validator", SecretString=VALIDATOR)
    write = [{"path": "/etc/app.pass", "content": {"ssm": "/app/db-password"}}]
    inv = launch_inventory(cloud.tmp, cloud.ami,
                           hosts={h: {"cloud_init": {"write_files": write}}
                                  for h in ("web01", "web02")},
                           chef={"validation_key": {"secretsmanager": "chef/validator"}})
    proxy = JsonProxy(cloud.endpoint)
    try:
        env = {**cloud.env, "AWS_ENDPOINT_URL": proxy.url}
        rendered = run_cli("render", inv, "-o", cloud.build, env=env)
        assert rendered.rc == 0, rendered.err
        # The validation key goes to S3 at launch: the render reads the parameter only.
        assert proxy.seen == [("GetParameter", "/app/db-password")]
        proxy.seen.clear()
        dry = cloud.launch(inv, "web01", "web02", "--dry-run", env=env)
        assert dry.rc == 0, dry.err
        assert proxy.seen == []
        assert "Body=<secret:secretsmanager:chef/validator>" in dry.out
        assert SECRET_MARK not in dry.out + dry.err and DB_PASSWORD not in dry.out + dry.err
        launched = cloud.launch(inv, "web01", "web02", env=env)
        assert launched.rc == 0, launched.err
    finally:
        proxy.stop()
    assert SECRET_MARK not in launched.out + launched.err
    assert proxy.count("GetParameter", "/app/db-password") == 1
    assert proxy.count("GetSecretValue", "chef/validator") == 1
    [web01] = cloud.instances("web01")
    user_data = cloud.client("ec2").describe_instance_attribute(
        InstanceId=web01["InstanceId"], Attribute="userData")["UserData"]["Value"]
    assert base64.b64decode(user_data) == (cloud.build / "web01" / "user-data").read_bytes()
    assert DB_PASSWORD.encode() in (cloud.build / "web01" / "user-data").read_bytes()
    key = next(o["Key"] for o in cloud.client("s3").list_objects_v2(Bucket=BUCKET)["Contents"]
               if "validat" in o["Key"])
    body = cloud.client("s3").get_object(Bucket=BUCKET, Key=key)["Body"].read()
    assert body == VALIDATOR.encode()
