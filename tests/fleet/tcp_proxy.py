"""A TCP proxy on loopback that can cut a connection after a number of bytes.

Push to a host through it, arm it with :meth:`CuttingProxy.cut_after`, and the connection that
carries that many bytes towards the host is closed on both sides mid-stream, as a dropped
network link would be.
"""

from __future__ import annotations

import contextlib
import socket
import threading

from support import waits


class CuttingProxy:
    def __init__(self, target_port: int) -> None:
        self.target_port = target_port
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = int(self.listener.getsockname()[1])
        self._limit: int | None = None
        self._lock = threading.Lock()
        self.cuts = 0
        self._closing = False
        threading.Thread(target=self._accept, daemon=True).start()

    def cut_after(self, upstream_bytes: int) -> None:
        """Cut the next connection once it has sent this many bytes to the host."""
        with self._lock:
            self._limit = upstream_bytes

    def _accept(self) -> None:
        while not self._closing:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            try:
                server = socket.create_connection(("127.0.0.1", self.target_port),
                                                  timeout=waits.allowance(5))
            except OSError:
                client.close()
                continue
            server.settimeout(None)
            with self._lock:
                limit, self._limit = self._limit, None
            pair = (client, server)
            threading.Thread(target=self._pump, args=(client, server, limit, pair),
                             daemon=True).start()
            threading.Thread(target=self._pump, args=(server, client, None, pair),
                             daemon=True).start()

    def _pump(self, source: socket.socket, sink: socket.socket, limit: int | None,
              pair: tuple[socket.socket, socket.socket]) -> None:
        sent = 0
        try:
            while data := source.recv(65536):
                if limit is not None and sent + len(data) >= limit:
                    sink.sendall(data[: max(0, limit - sent)])
                    self.cuts += 1
                    break
                sink.sendall(data)
                sent += len(data)
        except OSError:
            pass
        for sock in pair:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
            sock.close()

    def close(self) -> None:
        self._closing = True
        self.listener.close()
