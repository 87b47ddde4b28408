"""EC2's instance metadata service on a loopback port, IMDSv2 only, for scripts run by tests.

It hands out a session token (PUT /latest/api/token), then, only with that token, the instance
id and, when the instance has a role, the role's name and temporary credentials, with EC2's own
JSON spacing. Without the token a GET gets 401, as on an instance that requires IMDSv2.
"""

from __future__ import annotations

import json
import secrets
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from support import waits

INSTANCE_ID = "i-0123456789abcdef0"


class Imds:
    def __init__(self, instance_id: str = INSTANCE_ID, role: str | None = None,
                 credentials: dict[str, str] | None = None) -> None:
        self.token = secrets.token_urlsafe(24)
        self.requests: list[str] = []
        imds = self
        routes = {"/latest/meta-data/instance-id": instance_id}
        if role and credentials:
            routes["/latest/meta-data/iam/security-credentials/"] = role
            routes[f"/latest/meta-data/iam/security-credentials/{role}"] = json.dumps({
                "Code": "Success", "LastUpdated": "2026-01-01T00:00:00Z", "Type": "AWS-HMAC",
                "AccessKeyId": credentials["AccessKeyId"],
                "SecretAccessKey": credentials["SecretAccessKey"],
                "Token": credentials["SessionToken"], "Expiration": "2099-01-01T00:00:00Z",
            }, indent=2).replace('": ', '" : ')

        class Handler(BaseHTTPRequestHandler):
            def do_PUT(self) -> None:
                imds.requests.append(f"PUT {self.path}")
                if self.path == "/latest/api/token" and \
                        self.headers.get("X-aws-ec2-metadata-token-ttl-seconds"):
                    self._answer(200, imds.token)
                else:
                    self._answer(400, "")

            def do_GET(self) -> None:
                imds.requests.append(f"GET {self.path}")
                if self.headers.get("X-aws-ec2-metadata-token") != imds.token:
                    self._answer(401, "")
                elif self.path in routes:
                    self._answer(200, routes[self.path])
                else:
                    self._answer(404, "")

            def _answer(self, status: int, body: str) -> None:
                data = body.encode()
                self.send_response(status)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, format: str, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=waits.allowance(10))

    def __enter__(self) -> Imds:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
