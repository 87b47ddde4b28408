"""moto in server mode on a loopback port, and a small HTTP fault proxy in front of it.

``MotoServer`` runs the real ``moto_server`` program as a subprocess: boto3 talks to it over HTTP
exactly as it talks to AWS (signing, retries, XML/JSON parsing, error responses). The proxy adds
what moto cannot produce on its own: throttling and other injected error responses for chosen
API actions, with every request it saw recorded for the test to inspect.
"""

from __future__ import annotations

import contextlib
import http.client
import os
import socket
import subprocess
import threading
import urllib.parse
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from bootstrap.validate.programs import which
from support import waits

FAKE_CREDENTIALS = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SESSION_TOKEN": "testing",
    "AWS_DEFAULT_REGION": "eu-west-1",
    # Nothing from the developer's own ~/.aws may leak into a test.
    "AWS_CONFIG_FILE": "/dev/null",
    "AWS_SHARED_CREDENTIALS_FILE": "/dev/null",
    "AWS_PROFILE": None,
    # boto3 must never ask the instance metadata service (a link-local address) for credentials.
    "AWS_EC2_METADATA_DISABLED": "true",
    "AWS_MAX_ATTEMPTS": None,
    "AWS_RETRY_MODE": None,
}


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def available() -> str | None:
    """None when moto_server and boto3 are installed, else what is missing."""
    missing = []
    if _moto_command() is None:
        missing.append("moto_server")
    try:
        import boto3  # noqa: F401
    except ImportError:
        missing.append("boto3")
    return f"not installed: {', '.join(missing)}" if missing else None


def _moto_command() -> list[str] | None:
    found = which("moto_server")
    return [found] if found else None


class MotoServer:
    """``moto_server -H 127.0.0.1 -p PORT`` as a subprocess; stopped by its PID."""

    def __init__(self, log: Path, env: dict[str, str] | None = None) -> None:
        self.log = log
        command = _moto_command()
        if command is None:
            raise RuntimeError("moto_server is not installed (pip install 'moto[server]')")
        self._handle = open(log, "ab")  # noqa: SIM115 - lives as long as the server
        # moto_server takes a port number, so another process may take it between our probe and
        # its bind: then it exits at once, and we try another port.
        for _ in range(5):
            self.port = free_port()
            self.url = f"http://127.0.0.1:{self.port}"
            self.proc = subprocess.Popen(
                [*command, "-H", "127.0.0.1", "-p", str(self.port)],
                stdout=self._handle, stderr=subprocess.STDOUT, env={**os.environ, **(env or {})},
            )
            if self._wait_ready():
                return
        raise RuntimeError(f"moto_server did not start; see {self.log}")

    def _wait_ready(self) -> bool:
        """True once the server answers; False when it exited (its port was taken)."""
        def state() -> str | None:
            if self.proc.poll() is not None:
                return "exited"
            try:
                with urllib.request.urlopen(f"{self.url}/moto-api/data.json",
                                            timeout=waits.allowance(5)):
                    return "up"
            except OSError:
                return None

        try:
            return waits.wait_for(f"moto_server on {self.url}", state, 60, interval=0.1) == "up"
        except AssertionError as exc:
            self.stop()
            raise RuntimeError(f"{exc}; see {self.log}") from None

    def reset(self) -> None:
        """Forget every resource (moto's own reset endpoint)."""
        request = urllib.request.Request(f"{self.url}/moto-api/reset", method="POST", data=b"")
        with urllib.request.urlopen(request, timeout=waits.allowance(10)):
            pass

    def authenticate_after(self, count: int | None) -> None:
        """Check signatures and IAM policies after ``count`` more requests (None: never)."""
        request = urllib.request.Request(
            f"{self.url}/moto-api/reset-auth", method="POST",
            data=("inf" if count is None else str(count)).encode(),
            headers={"Content-Type": "text/plain"})
        with urllib.request.urlopen(request, timeout=waits.allowance(10)):
            pass

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=waits.allowance(10))
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self._handle.close()


@contextlib.contextmanager
def moto_server(log: Path, env: dict[str, str] | None = None) -> Iterator[MotoServer]:
    server = MotoServer(log, env)
    try:
        yield server
    finally:
        server.stop()


@dataclass
class Fault:
    """Answer the next ``times`` requests for ``action`` with this error instead of forwarding."""

    action: str
    code: str
    message: str
    status: int
    times: int


@dataclass
class FaultProxy:
    """A forwarding HTTP proxy on a loopback port that injects AWS error responses.

    It speaks the query protocol's error shape (EC2's ``<Response><Errors>``, IAM's
    ``<ErrorResponse>``), which is what botocore parses for those services.
    """

    upstream: str
    faults: list[Fault] = field(default_factory=list)
    # action -> (old, new): bytes replaced in every upstream answer to that action
    rewrites: dict[str, tuple[bytes, bytes]] = field(default_factory=dict)
    seen: list[str] = field(default_factory=list)
    injected: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._lock = threading.Lock()
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            # HTTP/1.1 answers botocore's "Expect: 100-continue" on S3 PUTs at once; under
            # HTTP/1.0 the client waits about a second for a 100 that never comes.
            protocol_version = "HTTP/1.1"

            def do_GET(self) -> None:
                proxy._handle(self)

            do_POST = do_PUT = do_HEAD = do_DELETE = do_GET

            def log_message(self, format: str, *args: object) -> None:
                pass

        # Port 0: the kernel picks a free port, so no other test run can take it first.
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = int(self._server.server_address[1])
        self.url = f"http://127.0.0.1:{self.port}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    def fail(self, action: str, code: str, message: str, *, status: int = 400, times: int = 1) -> None:
        with self._lock:
            self.faults.append(Fault(action, code, message, status, times))

    def rewrite(self, action: str, old: bytes, new: bytes) -> None:
        """Edit moto's answers to ``action`` (e.g. keep an instance pending)."""
        with self._lock:
            self.rewrites[action] = (old, new)

    def count(self, action: str) -> int:
        return self.seen.count(action)

    def _take_fault(self, action: str) -> Fault | None:
        with self._lock:
            self.seen.append(action)
            for fault in self.faults:
                if fault.action == action and fault.times > 0:
                    fault.times -= 1
                    self.injected.append(action)
                    return fault
        return None

    def _handle(self, request: BaseHTTPRequestHandler) -> None:
        length = int(request.headers.get("Content-Length") or 0)
        body = request.rfile.read(length) if length else b""
        action = _action(request.command, request.path, body)
        fault = self._take_fault(action)
        if fault is not None:
            payload = _error_body(body, fault)
            request.send_response(fault.status)
            request.send_header("Content-Type", "text/xml")
            request.send_header("Content-Length", str(len(payload)))
            request.end_headers()
            request.wfile.write(payload)
            return
        target = urllib.parse.urlsplit(self.upstream)
        conn = http.client.HTTPConnection(target.hostname or "127.0.0.1", target.port,
                                          timeout=waits.allowance(60))
        headers = {k: v for k, v in request.headers.items() if k.lower() != "connection"}
        try:
            conn.request(request.command, request.path, body=body or None, headers=headers)
            response = conn.getresponse()
            data = response.read()
        finally:
            conn.close()
        if action in self.rewrites:
            data = data.replace(*self.rewrites[action])
        request.send_response(response.status)
        for key, value in response.getheaders():
            if key.lower() not in {"transfer-encoding", "connection", "content-length", "server",
                                   "date"}:
                request.send_header(key, value)
        request.send_header("Content-Length", str(len(data)))
        request.end_headers()
        if request.command != "HEAD":
            request.wfile.write(data)

    def __enter__(self) -> FaultProxy:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=waits.allowance(10))


def _action(method: str, path: str, body: bytes) -> str:
    """The API action of a request: ``Action=`` of the query protocol, else ``s3:METHOD``."""
    fields = urllib.parse.parse_qs(body.decode("latin-1")) if body else {}
    query = urllib.parse.parse_qs(urllib.parse.urlsplit(path).query)
    for source in (fields, query):
        if "Action" in source:
            return source["Action"][0]
    return f"{method} {urllib.parse.urlsplit(path).path}"


def _error_body(body: bytes, fault: Fault) -> bytes:
    version = urllib.parse.parse_qs(body.decode("latin-1")).get("Version", [""])[0]
    if version.startswith("2016-11-15"):  # EC2's API version: its own error envelope
        text = (f"<?xml version='1.0' encoding='UTF-8'?><Response><Errors><Error>"
                f"<Code>{fault.code}</Code><Message>{fault.message}</Message></Error></Errors>"
                f"<RequestID>fault-proxy</RequestID></Response>")
    else:
        text = (f"<ErrorResponse><Error><Type>Sender</Type><Code>{fault.code}</Code>"
                f"<Message>{fault.message}</Message></Error>"
                f"<RequestId>fault-proxy</RequestId></ErrorResponse>")
    return text.encode()


def admin_client(service: str, endpoint: str, region: str = "eu-west-1") -> Any:
    """A boto3 client for the test itself (to set up and inspect moto), fake credentials."""
    import boto3

    return boto3.client(service, endpoint_url=endpoint, region_name=region,
                        aws_access_key_id="testing", aws_secret_access_key="testing")
