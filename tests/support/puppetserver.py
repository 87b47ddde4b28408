"""A puppetserver in a container built from Debian packages, on its own loopback port.

Tests that need a Puppet CA and catalog server start one with :func:`serve`: the JVM runs with a
small heap and one JRuby instance, listens on 127.0.0.1 only, and is removed at the end.
"""

from __future__ import annotations

import ssl
import subprocess
import textwrap
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from support import docker, waits
from support.moto import free_port

PACKAGES = ["puppetserver"]
LOG = "/var/log/puppetserver-fg.log"
EXIT = "/var/log/puppetserver-fg.exit"
SITE = "/etc/puppet/code/environments/production/manifests/site.pp"


@dataclass
class Server:
    container: str
    port: int
    started_in: float


@contextmanager
def serve(server_conf: str, files: dict[str, tuple[str, str]], site: str,
          certname: str = "localhost") -> Iterator[Server]:
    """A running puppetserver named ``certname`` whose puppet.conf ``[server]`` section is
    ``server_conf``, with ``files`` (path -> (content, mode)) and the production manifest
    ``site`` in place."""
    name = docker.unique("bootstrap-puppetserver")
    port = free_port()
    try:
        tag = docker.image("puppetserver", PACKAGES)
        docker.run(tag, name, ["sleep", "infinity"])
        sh(name, textwrap.dedent(f"""\
            set -e
            cat > /etc/puppet/puppetserver/conf.d/webserver.conf <<EOF
            webserver: {{
                access-log-config: /etc/puppet/puppetserver/request-logging.xml
                client-auth: want
                ssl-host: 127.0.0.1
                ssl-port: {port}
                # Jetty's 30 s default keeps an agent waiting after its CSR on a kept-alive
                # connection; a short one lets a new agent get its certificate at once.
                idle-timeout-milliseconds: 2000
            }}
            EOF
            sed -i 's/^\\( *\\)server-var-dir:/\\1max-active-instances: 1\\n&/' \\
                /etc/puppet/puppetserver/conf.d/puppetserver.conf
            sed -i 's/-Xms1g -Xmx1g/-Xms128m -Xmx256m/' /etc/default/puppetserver
            cat > /etc/puppet/puppet.conf <<EOF
            [main]
            certname = {certname}
            server = localhost
            serverport = {port}
            [server]
            EOF
            """))
        sh(name, f"cat >> /etc/puppet/puppet.conf <<'EOF'\n{server_conf.strip()}\nEOF")
        for path, (content, mode) in files.items():
            put_file(name, path, content, mode)
        put_file(name, SITE, site, "0644")
        sh(name, f"puppet parser validate {SITE}")
        started = time.monotonic()
        background(name, f"puppetserver foreground > {LOG} 2>&1; echo $? > {EXIT}")
        wait_running(name, port)
        yield Server(name, port, time.monotonic() - started)
    finally:
        docker.remove(name)


def wait_running(name: str, port: int) -> None:
    """Until puppetserver answers "running"; at once when it exits.

    On a quiet 2-core machine the JVM and the CA come up in one to two minutes; the allowance
    is five times that, stretched by the machine's measured slowdown (support.waits), with
    progress shown every 30 s.
    """
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE

    def running() -> bool:
        try:
            with urllib.request.urlopen(f"https://127.0.0.1:{port}/status/v1/simple",
                                        context=context, timeout=waits.allowance(10)) as response:
                return response.read().decode().strip() == "running"
        except OSError:
            return False

    def exited() -> str | None:
        status = sh(name, f"cat {EXIT} 2>/dev/null", check=False).stdout.strip()
        return f"exited with status {status}" if status else None

    try:
        waits.wait_for(f"puppetserver on port {port}", running, 600, failed=exited, interval=2)
    except AssertionError as exc:
        log = sh(name, f"tail -n 40 {LOG}", check=False).stdout
        raise AssertionError(f"{exc}:\n{log}") from None


def sh(container: str, script: str, env: dict[str, str] | None = None,
       check: bool = True) -> subprocess.CompletedProcess[str]:
    args = ["docker", "exec", *(f"-e{k}={v}" for k, v in (env or {}).items()), container,
            "bash", "-c", script]
    result = subprocess.run(args, capture_output=True, text=True, timeout=waits.allowance(600))
    if check and result.returncode:
        raise AssertionError(f"{script!r} failed ({result.returncode}): {result.stderr[-3000:]}")
    return result


def background(container: str, script: str) -> None:
    subprocess.run(["docker", "exec", "-d", container, "bash", "-c", script], check=True,
                   capture_output=True)


def put_file(container: str, path: str, content: str, mode: str) -> None:
    subprocess.run(["docker", "exec", "-i", container, "bash", "-c",
                    f"mkdir -p \"$(dirname {path})\" && cat > {path} && chmod {mode} {path}"],
                   input=content, text=True, check=True, capture_output=True)
