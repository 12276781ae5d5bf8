"""A loopback TCP proxy that can go silent: it keeps accepting and keeps connections open, forwarding nothing.

That is what a blackholed server looks like from the client (no refusal, no reset, no answer), except
that the bytes sent are acknowledged, so TCP-level timeouts cannot notice it either.
"""

import selectors
import socket
import threading


class SilentProxy:
    """Forwards 127.0.0.1:<port> to target until silence() is called; speak() resumes forwarding."""

    def __init__(self, target_host: str, target_port: int):
        self.target = (target_host, target_port)
        self.server = socket.create_server(("127.0.0.1", 0))
        self.port = self.server.getsockname()[1]
        self.silent = threading.Event()
        self.stopping = threading.Event()
        self.sockets: list[socket.socket] = []
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def silence(self) -> None:
        self.silent.set()

    def speak(self) -> None:
        self.silent.clear()

    def close(self) -> None:
        self.stopping.set()
        self.thread.join(5)
        for sock in [self.server, *self.sockets]:
            sock.close()

    def _run(self) -> None:
        selector = selectors.DefaultSelector()
        selector.register(self.server, selectors.EVENT_READ, None)
        while not self.stopping.is_set():
            for key, _ in selector.select(timeout=0.1):
                if key.data is None:
                    self._accept(selector)
                else:
                    self._forward(selector, key.fileobj, key.data)

    def _accept(self, selector: selectors.BaseSelector) -> None:
        client, _ = self.server.accept()
        self.sockets.append(client)
        if self.silent.is_set():
            selector.register(client, selectors.EVENT_READ, "swallow")
            return
        upstream = socket.create_connection(self.target, timeout=5)
        self.sockets.append(upstream)
        selector.register(client, selectors.EVENT_READ, upstream)
        selector.register(upstream, selectors.EVENT_READ, client)

    def _forward(self, selector: selectors.BaseSelector, source: socket.socket, peer) -> None:
        try:
            data = source.recv(65536)
        except OSError:
            data = b""
        if not data:
            selector.unregister(source)
            return
        if peer == "swallow" or self.silent.is_set():
            return  # read and dropped: the sender sees its bytes acknowledged, and never an answer
        try:
            peer.sendall(data)
        except OSError:
            selector.unregister(source)
