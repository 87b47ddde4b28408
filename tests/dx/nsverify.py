"""``bootstrap verify`` whose hosts are network namespaces on this machine, not SSH servers.

``python tests/dx/nsverify.py HOLDER_PID verify INVENTORY [ARGS...]`` runs the real command
(inventory, build, check library, outcomes, table, JSON, JUnit, exit status); only the
connection differs: each host's checks run through a testinfra local backend inside the mount
and network namespaces of process HOLDER_PID (see :class:`dx.live.NsenterBackend`).
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

TESTS = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(TESTS.parent), str(TESTS)]

from dx.live import NsenterBackend  # noqa: E402
from testinfra.host import Host  # noqa: E402

from bootstrap import cli  # noqa: E402
from bootstrap.fleet import verify  # noqa: E402


class NamespaceSession:
    """What verify keeps of a connection: something to close."""

    def close(self) -> None:
        pass


def main(argv: list[str]) -> int:
    holder = int(argv[0])

    def connect(*_: Any, **__: Any) -> NamespaceSession:
        return NamespaceSession()

    def testinfra_host(_: Any) -> Host:
        return Host(NsenterBackend(holder))

    verify.connect = connect  # type: ignore[assignment]
    verify.testinfra_host = testinfra_host  # type: ignore[assignment]
    return cli.main(argv[1:])


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
