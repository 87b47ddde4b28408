"""An Ethernet link between two lab machines: QEMU's ``-netdev socket`` over loopback TCP.

One machine listens on a loopback port, the other connects to it; every frame one sends, tags
and all, the other receives, so 802.1Q VLANs, BGP with TCP MD5 and BFD run over it as over a
cable. The listening machine must be started first (QEMU daemonizes once it listens).
"""

from __future__ import annotations

import errno
import socket
from dataclasses import dataclass

from bootstrap.errors import BootstrapError


@dataclass(frozen=True)
class Link:
    port: int
    name: str = "n1"

    def listen(self, mac: str) -> tuple[str, ...]:
        return ("-netdev", f"socket,id={self.name},listen=127.0.0.1:{self.port}",
                "-device", f"virtio-net-pci,netdev={self.name},mac={mac}")

    def connect(self, mac: str) -> tuple[str, ...]:
        return ("-netdev", f"socket,id={self.name},connect=127.0.0.1:{self.port}",
                "-device", f"virtio-net-pci,netdev={self.name},mac={mac}")


def free_link(port: int | None) -> Link:
    """A link on ``port`` (refused in one line when something listens there), or on a loopback
    port the kernel says is free now."""
    with socket.socket() as sock:
        try:
            sock.bind(("127.0.0.1", port or 0))
        except OSError as exc:
            why = "taken by another program" if exc.errno == errno.EADDRINUSE else exc.strerror
            raise BootstrapError(f"loopback port {port} for the link between the machines is "
                                 f"{why}; give another with --link-port or leave it out",
                                 key="--link-port") from None
        return Link(int(sock.getsockname()[1]))


def mac(index: int, side: int) -> str:
    """A locally administered MAC, distinct per link and side."""
    return f"52:54:00:6c:{index:02x}:{side:02x}"
