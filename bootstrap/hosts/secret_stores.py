"""Secrets kept in AWS: ``{ssm: NAME}`` (Parameter Store) and ``{secretsmanager: ID}``.

A parameter or secret is read the first time a render reveals a reference to it, and once per
run: the answer (or the error) is kept in memory for the rest of the process, so a fleet of
hosts that share a database password asks AWS once. Two fields (``key:``) of one Secrets
Manager secret share that one read too.

boto3 is imported here only when such a reference is revealed, so commands that never reveal
one (``--help``, ``inventory``, ``launch --dry-run``) neither import it nor need it. It finds
credentials and region the way the AWS CLI does (environment, ``AWS_PROFILE`` and ``~/.aws``,
the instance role), and its endpoint from ``AWS_ENDPOINT_URL``, ``AWS_ENDPOINT_URL_SSM`` and
``AWS_ENDPOINT_URL_SECRETS_MANAGER`` when they are set.

Error messages name the parameter or secret and what AWS said about it, never its value.
"""

from __future__ import annotations

import json
import threading
from typing import Any

SERVICES = {"ssm": "SSM Parameter Store", "secretsmanager": "Secrets Manager"}
# What AWS answers for a parameter or secret that does not exist.
_MISSING = {"ParameterNotFound", "ResourceNotFoundException"}
_DENIED = {"AccessDenied", "AccessDeniedException", "UnauthorizedOperation",
           "UnrecognizedClientException", "InvalidClientTokenId", "ExpiredTokenException",
           "ExpiredToken"}
# AWS messages name an ARN and a principal; a hostile or broken endpoint could send anything.
MAX_MESSAGE = 300


class SecretStoreError(Exception):
    """Why a parameter or secret cannot be read; the message never holds its value."""


# (kind, name, region) -> the text read, or the error met reading it.
_fetched: dict[tuple[str, str, str], str | SecretStoreError] = {}
# (kind, region) -> boto3 client; one per service and region for the whole run.
_clients: dict[tuple[str, str], Any] = {}
_lock = threading.Lock()
_pending: dict[tuple[str, str, str], threading.Lock] = {}


def fetch(kind: str, name: str, region: str = "", key: str = "") -> str:
    """The text of parameter or secret ``name`` (of its JSON field ``key`` when given)."""
    text = _read_once(kind, name, region)
    return json_field(text, key) if key else text


def json_field(text: str, key: str) -> str:
    """Field ``key`` of the JSON object ``text``, as text (numbers and booleans as JSON)."""
    try:
        data = json.loads(text)
    except ValueError:
        data = None
    if not isinstance(data, dict):
        raise SecretStoreError(f"the secret is not a JSON object, so it has no field {key!r}")
    if key not in data:
        raise SecretStoreError(f"the secret's JSON has no field {key!r}")
    value = data[key]
    if isinstance(value, str):
        return value
    if isinstance(value, bool | int | float):
        return json.dumps(value)
    kind = "null" if value is None else type(value).__name__
    raise SecretStoreError(f"field {key!r} of the secret's JSON is a {kind}, not a string or "
                           "a number")


def forget() -> None:
    """Drop what was read (a long-lived process that wants fresh values calls this)."""
    with _lock:
        _fetched.clear()
        _clients.clear()


def _read_once(kind: str, name: str, region: str) -> str:
    slot = (kind, name, region)
    with _lock:
        guard = _pending.setdefault(slot, threading.Lock())
    # Hosts rendered in parallel that share a secret wait for the one read under way.
    with guard:
        if slot not in _fetched:
            try:
                _fetched[slot] = _read(kind, name, region)
            except SecretStoreError as exc:
                _fetched[slot] = exc
    found = _fetched[slot]
    if isinstance(found, SecretStoreError):
        raise SecretStoreError(str(found))
    return found


def _read(kind: str, name: str, region: str) -> str:
    try:
        import botocore.exceptions as aws
    except ImportError:
        raise SecretStoreError("boto3 is not installed (pip install boto3); it reads "
                               f"{SERVICES[kind]} references") from None
    try:
        client = _client(kind, region)
        if kind == "ssm":
            answer = client.get_parameter(Name=name, WithDecryption=True)
            return str(answer["Parameter"]["Value"])
        answer = client.get_secret_value(SecretId=name)
    except aws.NoRegionError:
        raise SecretStoreError("no AWS region: set AWS_REGION (or a profile's region), or give "
                               "region: in the reference") from None
    except aws.NoCredentialsError:
        raise SecretStoreError("no AWS credentials found (environment, AWS_PROFILE or "
                               "~/.aws, or an instance role)") from None
    except aws.ClientError as exc:
        raise _refused(kind, exc, _region_of(kind, region)) from None
    except aws.BotoCoreError as exc:
        raise SecretStoreError(f"cannot reach {SERVICES[kind]}: {_short(str(exc))}") from None
    if "SecretString" in answer:
        return str(answer["SecretString"])
    raise SecretStoreError("the secret holds binary data (SecretBinary); only text secrets "
                           "(SecretString) can be used")


def _client(kind: str, region: str) -> Any:
    with _lock:
        client = _clients.get((kind, region))
        if client is None:
            import boto3

            client = boto3.session.Session().client(kind, region_name=region or None)
            _clients[(kind, region)] = client
        return client


def _region_of(kind: str, region: str) -> str:
    client = _clients.get((kind, region))
    return str(client.meta.region_name) if client is not None else region


def _refused(kind: str, exc: Any, region: str) -> SecretStoreError:
    error = exc.response.get("Error", {})
    code = str(error.get("Code", "")) or "an error"
    message = _short(str(error.get("Message", "")))
    where = f"{SERVICES[kind]} ({region})" if region else SERVICES[kind]
    if code in _MISSING:
        what = "parameter" if kind == "ssm" else "secret"
        return SecretStoreError(f"no such {what} in {where}")
    said = f"{code}: {message}" if message else code
    if code in _DENIED:
        return SecretStoreError(f"access denied by {where}: {said}")
    return SecretStoreError(f"{where} refused it: {said}")


def _short(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= MAX_MESSAGE else text[:MAX_MESSAGE] + "..."
