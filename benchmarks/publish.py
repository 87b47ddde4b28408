"""What ``bootstrap publish`` asks of S3 for a fleet: PUTs per host, and none on a republish.

    python benchmarks/publish.py [--hosts N] [--group-size G] [--keep DIR]

Generates an inventory of N hosts (default 10,000) in groups of G (default 100) that share most
of their files: a config every host has and one per group (no file of a host's own, as for the
instances of an Auto Scaling group), renders it, starts a moto server (``moto_server``, as the
tests run it) and runs ``bootstrap publish`` twice, as a user would. The S3 requests are
counted where they arrive, in moto's request log, not taken from publish's own summary; the
objects are counted by listing the bucket afterwards.

The last line is ``puts/host=X.XX republish_puts=N distinct_objects=N`` (targets: X <= 1.1, one
manifest per host plus the shared objects once; republish_puts = 0). The line before gives the
controller's time per host for the publish and the republish, the command's start included
(moto answers on loopback, so this is the controller's own cost plus a local round trip per
request, not S3's latency).

With ``--compare-push`` (needs docker and mmdebstrap, as benchmarks/fleet.py) it also pushes the
same files to one sshd container host over SSH, as benchmarks/fleet.py's one-host run does
(median of 3, the files removed before each), and prints
``controller ms/host: publish=X push_ssh=Y push_ssh/publish=Z``: what one more host costs the
controller on each delivery path.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parent.parent
for path in (ROOT, ROOT / "tests"):
    if str(path) not in sys.path:  # run from a checkout without installing
        sys.path.insert(0, str(path))

from support.moto import FAKE_CREDENTIALS, admin_client, moto_server  # noqa: E402

BUCKET = "bench-publish"
REGION = "eu-west-1"
PREFIX = "fleet/"
ROLE = {
    "roles/app/role.yml": (
        "description: a service whose files its group shares\n"
        "apply: systemctl restart app\n"
        "artifacts:\n"
        "  - template: app/common.conf.j2\n"
        "    dest: /etc/app/common.conf\n"
        "    mode: \"0644\"\n"
        "  - template: app/group.conf.j2\n"
        "    dest: /etc/app/group.conf\n"
        "    mode: \"0640\"\n"
        "    owner: root:app\n"),
    "templates/app/common.conf.j2": "log_level = info\nlisten = 8080\n",
    "templates/app/group.conf.j2": "pool = {{ vars.app_pool }}\nreplicas = {{ vars.app_replicas }}\n",
}


def inventory(folder: Path, hosts: int, group_size: int) -> Path:
    for rel, text in ROLE.items():
        path = folder / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    groups: dict[str, Any] = {}
    for start in range(0, hosts, group_size):
        index = start // group_size
        names = [f"app{n:05d}" for n in range(start, min(start + group_size, hosts))]
        groups[f"pool{index:04d}"] = {"vars": {"app_pool": f"pool{index:04d}",
                                               "app_replicas": index % 7 + 1},
                                      "hosts": dict.fromkeys(names)}
    doc = {"all": {
        "vars": {"bootstrap_roles": ["ec2-instance", "app"],
                 "aws": {"ami": "ami-0d1e2b3c4a5f60718", "region": REGION,
                         "publish": {"bucket": BUCKET, "prefix": PREFIX}}},
        "children": groups,
    }}
    (folder / "hosts.yml").write_text(yaml.safe_dump(doc, sort_keys=False))
    return folder


def cli(*args: str) -> str:
    """``bootstrap ARGS`` in this process; its stdout (an error stops the benchmark)."""
    from bootstrap.cli import main

    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        rc = main(list(args))
    if rc != 0:
        raise SystemExit(f"bootstrap {' '.join(args)} exited {rc}")
    return out.getvalue()


def requests(log: Path, start: int, bucket: str) -> tuple[int, int]:
    """(PUTs, other requests) to ``bucket`` in moto's request log after byte ``start``."""
    with open(log, "rb") as handle:
        handle.seek(start)
        lines = handle.read().decode(errors="replace").splitlines()
    methods = [line.split('"', 2)[1].split(" ")[0] for line in lines
               if f" /{bucket}" in line and line.count('"') >= 2]
    puts = methods.count("PUT")
    return puts, len(methods) - puts


def timed(*args: str) -> float:
    """Seconds ``bootstrap ARGS`` takes as its own process."""
    start = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "bootstrap", *args], capture_output=True,
                          text=True, cwd=ROOT)
    if proc.returncode != 0:
        raise SystemExit(f"bootstrap {' '.join(args)} exited {proc.returncode}: "
                         f"{proc.stderr.strip()[-500:]}")
    return time.perf_counter() - start


def push_one_host(work: Path, rounds: int = 3) -> float:
    """Median seconds of ``bootstrap push`` of one host of the same role over SSH."""
    import statistics

    sys.path.insert(0, str(ROOT / "tests" / "fleet"))
    from fleet_hosts import Fleet, docker

    if missing := docker.available():
        raise SystemExit(f"--compare-push needs docker and mmdebstrap: {missing}")
    daemon = docker.ensure_daemon()
    fleet = Fleet(work / "ssh", 1, prefix="bench-publish")
    try:
        fleet.start()
        [node] = fleet.nodes
        inv = work / "push-inv"
        for rel, text in ROLE.items():
            (inv / rel).parent.mkdir(parents=True, exist_ok=True)
            (inv / rel).write_text(text)
        host = {"ansible_host": "127.0.0.1", "ansible_port": node.port, "ansible_user": "root",
                "ansible_ssh_private_key_file": str(fleet.key), "bootstrap_roles": ["app"],
                "app_pool": "pool0000", "app_replicas": 1}
        (inv / "hosts.yml").write_text(yaml.safe_dump({"all": {"hosts": {"app00000": host}}}))
        build = work / "push-build"
        cli("render", str(inv), "-o", str(build))
        fleet.exec(node, "getent group app >/dev/null || groupadd app")
        times = []
        for _ in range(rounds):
            fleet.exec(node, "rm -rf /etc/app")
            times.append(timed("push", str(inv), "--build", str(build), "--known-hosts",
                               str(fleet.known_hosts)))
        return statistics.median(times)
    finally:
        fleet.remove()
        docker.stop_daemon(daemon)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hosts", type=int, default=10_000)
    parser.add_argument("--group-size", type=int, default=100)
    parser.add_argument("--keep", type=Path, help="work in this folder and keep it")
    parser.add_argument("--compare-push", action="store_true",
                        help="also time bootstrap push of one host over SSH (docker)")
    args = parser.parse_args()
    for key, value in FAKE_CREDENTIALS.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value
    with contextlib.ExitStack() as stack:
        work = args.keep or Path(stack.enter_context(tempfile.TemporaryDirectory()))
        work.mkdir(parents=True, exist_ok=True)
        inv = inventory(work / "inv", args.hosts, args.group_size)
        build = work / "build"
        start = time.perf_counter()
        cli("render", str(inv), "-o", str(build))
        print(f"render: {args.hosts} hosts in {time.perf_counter() - start:.1f} s",
              file=sys.stderr)
        server = stack.enter_context(moto_server(work / "moto.log"))
        admin_client("s3", server.url, REGION).create_bucket(
            Bucket=BUCKET, CreateBucketConfiguration={"LocationConstraint": REGION})
        command = ("publish", str(inv), "-b", str(build), "--endpoint-url", server.url)
        log = work / "moto.log"
        mark = log.stat().st_size
        first = timed(*command)
        puts, _ = requests(log, mark, BUCKET)
        mark = log.stat().st_size
        second = timed(*command)
        republish, reads = requests(log, mark, BUCKET)
        listed = admin_client("s3", server.url, REGION).get_paginator("list_objects_v2")
        distinct = sum(page.get("KeyCount", 0)
                       for page in listed.paginate(Bucket=BUCKET, Prefix=f"{PREFIX}objects/"))
        push = push_one_host(work) if args.compare_push else None
    hosts = args.hosts
    print(f"publish {first / hosts * 1000:.2f} ms/host, republish {second / hosts * 1000:.2f} "
          f"ms/host ({reads} read requests)")
    if push is not None:
        print(f"controller ms/host: publish={first / hosts * 1000:.2f} push_ssh={push * 1000:.2f} "
              f"push_ssh/publish={push / (first / hosts):.1f}")
    print(f"puts/host={puts / hosts:.2f} republish_puts={republish} distinct_objects={distinct}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
