"""AWS API access for launch and terminate: one ``call`` interface, live through boto3 or printed.

Every request goes through ``Api.call(service, operation, **params)`` with the API's own operation
names (``CreateRole``, ``RunInstances``), so a dry run prints exactly the calls a live run makes.
A dry run makes none: read calls answer "not found" and write calls answer placeholders, so the
caller follows the path of an account where nothing exists yet and prints all of it.

boto3 is imported only when a live call is made. Credentials come from boto3's own chain
(environment, shared files, SSO, instance or container role) and are never read or printed here.
Throttling is retried by botocore's standard retry mode with exponential backoff and jitter;
``AWS_MAX_ATTEMPTS`` or ``max_attempts`` in the AWS config file raises or lowers the attempts.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import cache
from typing import Any, Protocol

from bootstrap.errors import BootstrapError

# Attempts per call (the first one included) when the AWS config does not say: backoff of up
# to 1, 2, 4 and 8 seconds between them.
DEFAULT_ATTEMPTS = 5
DENIED = frozenset({"AccessDenied", "AccessDeniedException", "UnauthorizedOperation",
                    "AuthFailure", "InvalidClientTokenId", "SignatureDoesNotMatch",
                    "ExpiredToken", "UnrecognizedClientException"})
THROTTLED = frozenset({"Throttling", "ThrottlingException", "RequestLimitExceeded",
                       "TooManyRequestsException", "SlowDown", "RequestThrottled",
                       "EC2ThrottledException"})


@dataclass(frozen=True)
class Shown:
    """A parameter whose printed form is ``text`` (a secret's placeholder, a blob's summary)."""

    value: Any
    text: str
    secret: bool = False

    def __repr__(self) -> str:
        return self.text


class CallFailed(Exception):
    """An API call that failed; ``str()`` is one line that names the call and never a secret."""

    def __init__(self, service: str, operation: str, code: str, message: str,
                 attempts: int = 1) -> None:
        super().__init__(f"{service}:{operation}: {code}: {message}")
        self.service = service
        self.operation = operation
        self.code = code
        self.message = message
        self.attempts = attempts

    @property
    def call(self) -> str:
        return f"{self.service}:{self.operation}"

    def explain(self) -> str:
        """The error with what a user should know about it."""
        text = f"{self.call} failed: {self.code}: {self.message}".rstrip(": ")
        if self.code in DENIED:
            text += (" (the credentials boto3 found may not make this call: check the identity's "
                     "IAM policy, e.g. with aws sts get-caller-identity)")
        elif self.code in THROTTLED:
            text += (f" (still throttled after {self.attempts} attempts with backoff; try again "
                     "later or raise AWS_MAX_ATTEMPTS)")
        return text


class Api(Protocol):
    dry_run: bool

    def call(self, service: str, operation: str, missing: tuple[str, ...] = (),
             **params: Any) -> dict[str, Any] | None:
        """The response; None when the error code is one of ``missing`` (the thing is absent)."""
        ...


def describe(service: str, operation: str, params: dict[str, Any]) -> str:
    """``iam:CreateRole RoleName=web AssumeRolePolicyDocument={...}``, secrets replaced."""
    shown = " ".join(f"{key}={_show(value)}" for key, value in params.items())
    return f"{service}:{operation} {shown}".rstrip()


def _show(value: Any) -> str:
    if isinstance(value, Shown):
        return value.text
    if isinstance(value, bytes):
        return f"<{len(value)} bytes>"
    if isinstance(value, str):
        return value if value and " " not in value else json.dumps(value)
    return json.dumps(_plain(value), sort_keys=False, separators=(",", ":"))


def _plain(value: Any) -> Any:
    if isinstance(value, Shown):
        return value.text
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if isinstance(value, bytes):
        return f"<{len(value)} bytes>"
    return value


def unwrap(value: Any) -> Any:
    """``value`` as the API takes it: every :class:`Shown` replaced by what it stands for."""
    if isinstance(value, Shown):
        return value.value
    if isinstance(value, dict):
        return {k: unwrap(v) for k, v in value.items()}
    if isinstance(value, list):
        return [unwrap(v) for v in value]
    return value


def _secrets(value: Any) -> list[Shown]:
    if isinstance(value, Shown):
        return [value] if value.secret else []
    if isinstance(value, dict):
        return [s for v in value.values() for s in _secrets(v)]
    if isinstance(value, list):
        return [s for v in value for s in _secrets(v)]
    return []


@cache
def _botocore_session() -> Any:
    import botocore.session

    return botocore.session.get_session()


def default_region() -> str | None:
    """The region boto3 would use (AWS_REGION, AWS_DEFAULT_REGION, the config file)."""
    region = _botocore_session().get_config_variable("region")
    return str(region) if region else None


class Live:
    """Calls AWS (or ``endpoint_url``, e.g. a moto server) through boto3."""

    dry_run = False

    def __init__(self, region: str, endpoint_url: str | None = None) -> None:
        try:
            import boto3
            from botocore.config import Config
        except ImportError:
            raise BootstrapError("boto3 is not installed: pip install 'bootstrap[aws]'") from None

        session = _botocore_session()
        self.attempts = int(session.get_config_variable("max_attempts") or DEFAULT_ATTEMPTS)
        self._session = boto3.session.Session(botocore_session=session, region_name=region)
        self._endpoint = endpoint_url
        self._config = Config(
            retries={"mode": "standard", "total_max_attempts": self.attempts},
            connect_timeout=10, read_timeout=60,
        )
        self._clients: dict[str, Any] = {}

    def _client(self, service: str) -> Any:
        client = self._clients.get(service)
        if client is None:
            client = self._session.client(service, endpoint_url=self._endpoint, config=self._config)
            self._clients[service] = client
        return client

    def call(self, service: str, operation: str, missing: tuple[str, ...] = (),
             **params: Any) -> dict[str, Any] | None:
        from botocore import xform_name
        from botocore.exceptions import BotoCoreError, ClientError, NoCredentialsError

        def failed(code: str, message: str, attempts: int = 1) -> CallFailed:
            for secret in _secrets(params):
                value = secret.value
                text = value.decode(errors="replace") if isinstance(value, bytes) else str(value)
                if text and text in message:
                    # Not replaced: where a placeholder lands would show a short secret.
                    message = f"(message withheld: it quoted {secret.text})"
            return CallFailed(service, operation, code, message, attempts)

        method = getattr(self._client(service), xform_name(operation))
        try:
            response: dict[str, Any] = method(**unwrap(params))
        except ClientError as exc:
            error = exc.response.get("Error", {})
            code = str(error.get("Code") or exc.response.get("ResponseMetadata", {})
                       .get("HTTPStatusCode", "Unknown"))
            if code in missing:
                return None
            attempts = exc.response.get("ResponseMetadata", {}).get("RetryAttempts", 0) + 1
            raise failed(code, str(error.get("Message") or ""), attempts) from None
        except NoCredentialsError:
            raise failed("NoCredentials",
                         "no AWS credentials found; boto3 looks at AWS_ACCESS_KEY_ID/"
                         "AWS_SECRET_ACCESS_KEY, AWS_PROFILE and ~/.aws, SSO, and the instance "
                         "or container role") from None
        except BotoCoreError as exc:
            raise failed(type(exc).__name__, str(exc)) from None
        response.pop("ResponseMetadata", None)
        return response


@dataclass
class DryRun:
    """Prints each call instead of making it; answers as an account where nothing exists yet."""

    say: Callable[[str], None]
    dry_run: bool = True

    def call(self, service: str, operation: str, missing: tuple[str, ...] = (),
             **params: Any) -> dict[str, Any] | None:
        self.say(f"would call {describe(service, operation, params)}")
        if missing:
            return None
        answer = _PLACEHOLDERS.get(operation)
        return answer(params) if answer else {}


def per_region(endpoint_url: str | None) -> Callable[[str], Api]:
    """``api(region)``: one live client set per region, made on first use."""
    live: dict[str, Live] = {}

    def api(region: str) -> Api:
        if region not in live:
            live[region] = Live(region, endpoint_url)
        return live[region]

    return api


# Keys per ListObjectsV2 page: S3's maximum.
LIST_PAGE = 1000


def list_objects(api: Api, bucket: str, prefix: str) -> Iterator[dict[str, Any]]:
    """Every object under ``prefix`` (its ``Key``, ``Size``, ...), one ListObjectsV2 page at a
    time."""
    token: str | None = None
    while True:
        params: dict[str, Any] = {"Bucket": bucket, "Prefix": prefix, "MaxKeys": LIST_PAGE}
        if token:
            params["ContinuationToken"] = token
        page = api.call("s3", "ListObjectsV2", **params) or {}
        yield from page.get("Contents") or []
        token = page.get("NextContinuationToken") if page.get("IsTruncated") else None
        if not token:
            return


def connect(endpoint_url: str | None, dry_run: bool,
            say: Callable[[str], None]) -> Callable[[str, str], Api]:
    """``api(region, host)``: live clients shared per region, or a dry run that prints per host."""
    live: dict[str, Live] = {}

    def api(region: str, host: str) -> Api:
        if dry_run:
            return DryRun(lambda line: say(f"{host}: {line}"))
        if region not in live:
            live[region] = Live(region, endpoint_url)
        return live[region]

    return api


# What a dry run answers to the calls whose result the next call needs.
_PLACEHOLDERS: dict[str, Callable[[dict[str, Any]], dict[str, Any]]] = {
    "DescribeImages": lambda p: {"Images": [{"ImageId": p["ImageIds"][0],
                                             "RootDeviceName": "<root device of the AMI>"}]},
    "DescribeSubnets": lambda p: {"Subnets": [{"SubnetId": p["SubnetIds"][0]}]},
    "DescribeInstances": lambda p: {"Reservations": []},
    "RunInstances": lambda p: {"Instances": [{"InstanceId": "<new instance>",
                                              "State": {"Name": "pending"}}]},
    "CreateLaunchTemplate": lambda p: {"LaunchTemplate": {"LatestVersionNumber": 1}},
}
