"""A tiny loopback HTTP listener that records every connection it accepts."""

import socket
import threading
from types import SimpleNamespace


class Listener:
    """A tiny HTTP/1.1 server on a loopback address, one thread per connection, routes by path."""

    def __init__(self, host="127.0.0.1", port=0, tls=None):
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        self.sock = socket.create_server((host, port), family=family)
        self.sock.settimeout(0.05)
        self.host, self.port = host, self.sock.getsockname()[1]
        self.tls = tls
        self.accepted = []
        self.requests = []
        self.sni = []
        self.routes = {}
        self.stopping = threading.Event()
        threading.Thread(target=self._serve, daemon=True).start()

    def url(self, path="/", scheme="http", host=None):
        host = host or (f"[{self.host}]" if ":" in self.host else self.host)
        return f"{scheme}://{host}:{self.port}{path}"

    def route(self, path, handler):
        self.routes[path] = handler

    def close(self):
        self.stopping.set()
        self.sock.close()

    def _serve(self):
        while not self.stopping.is_set():
            try:
                conn, peer = self.sock.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            self.accepted.append(peer)
            threading.Thread(target=self._handle, args=(conn,), daemon=True).start()

    def _handle(self, conn):
        conn.settimeout(5)
        try:
            if self.tls:
                conn = self.tls.wrap_socket(conn, server_side=True)
            request = read_request(conn)
            self.requests.append(request)
            handler = self.routes.get(request.path.split("?")[0], ok(b"not found", status=404))
            handler(conn, request, self)
        except OSError:
            pass
        finally:
            conn.close()


def read_request(conn):
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = conn.recv(4096)
        if not chunk:
            raise ConnectionError("client went away")
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    method, path, _ = lines[0].split(" ", 2)
    headers = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    while len(body) < int(headers.get("content-length", 0)):
        body += conn.recv(4096)
    return SimpleNamespace(method=method, path=path, headers=headers, body=body)


def ok(body=b"hello", status=200, content_type="text/plain", length=True):
    def handler(conn, request, listener):
        head = f"HTTP/1.1 {status} X\r\nContent-Type: {content_type}\r\nConnection: close\r\n"
        if length:
            head += f"Content-Length: {len(body)}\r\n"
        conn.sendall(head.encode() + b"\r\n" + body)

    return handler


def hang(conn, request, listener):
    listener.stopping.wait(5)
