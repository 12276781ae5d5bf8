"""Debian's nginx as the test's own process, running the documented site configuration (docs/nginx.conf).

The test gives it free loopback ports, a test certificate and the upstream gunicorn address;
everything nginx writes (pid, logs, temporary files) stays in the test's directory.
"""

import os
import shutil
import socket
import ssl
import subprocess
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent.parent
SITE_CONFIG = ROOT / "docs" / "nginx.conf"
NGINX = shutil.which("nginx") or ("/usr/sbin/nginx" if Path("/usr/sbin/nginx").exists() else None)
MIME_TYPES = Path("/etc/nginx/mime.types")

MAIN_CONFIG = """\
{user}worker_processes 1;
pid {dir}/nginx.pid;
error_log {dir}/error.log warn;
events {{ worker_connections 128; }}
http {{
    include {mime_types};
    default_type application/octet-stream;
    access_log {dir}/access.log;
    client_body_temp_path {dir}/body;
    proxy_temp_path {dir}/proxy;
    fastcgi_temp_path {dir}/fastcgi;
    uwsgi_temp_path {dir}/uwsgi;
    scgi_temp_path {dir}/scgi;
    include {dir}/site.conf;
}}
"""


def free_port(host="127.0.0.1"):
    with socket.socket() as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]


def site_config(text, *, host, http_port, https_port, upstream, certificates):
    """docs/nginx.conf with the test's names, ports, certificate and paths; every edit must apply."""
    edits = [
        ("listen 80;", f"listen {host}:{http_port};"),
        ("listen [::]:80;\n", ""),
        ("listen 443 ssl http2;", f"listen {host}:{https_port} ssl http2;"),
        ("listen [::]:443 ssl http2;\n", ""),
        ("server_name blog.example.org;", f"server_name {host};"),
        ("/etc/letsencrypt/live/blog.example.org/fullchain.pem", str(certificates.chain)),
        ("/etc/letsencrypt/live/blog.example.org/privkey.pem", str(certificates.key)),
        ("server 127.0.0.1:8000;", f"server {upstream};"),
        ("alias /srv/microblog/app/static/;", f"alias {ROOT}/app/static/;"),
        ("shared:microblog_tls:10m", f"shared:microblog_tls_{https_port}:1m"),
    ]
    for old, new in edits:
        assert old in text, f"docs/nginx.conf no longer contains {old!r}: update the test with it"
        text = text.replace(old, new)
    return text


class Nginx:
    """nginx in the foreground (daemon off) with its own prefix, pid and logs; stopped by stop()."""

    def __init__(self, directory, *, upstream, certificates, host="127.0.0.1"):
        self.dir = Path(directory)
        self.host = host
        self.http_port = free_port(host)
        self.https_port = free_port(host)
        self.upstream = upstream
        self.certificates = certificates
        self.process = None

    @property
    def https_url(self):
        return f"https://{self.host}:{self.https_port}"

    @property
    def http_url(self):
        return f"http://{self.host}:{self.http_port}"

    def write_config(self):
        self.dir.mkdir(parents=True, exist_ok=True)
        site = site_config(
            SITE_CONFIG.read_text(),
            host=self.host,
            http_port=self.http_port,
            https_port=self.https_port,
            upstream=self.upstream,
            certificates=self.certificates,
        )
        (self.dir / "site.conf").write_text(site)
        # As root, nginx's workers would switch to an unprivileged user that cannot read the test's files.
        user = "user root;\n" if os.geteuid() == 0 else ""
        main = MAIN_CONFIG.format(user=user, dir=self.dir, mime_types=MIME_TYPES)
        (self.dir / "nginx.conf").write_text(main)
        return self.dir / "nginx.conf"

    def command(self, *extra):
        conf = self.dir / "nginx.conf"
        return [NGINX, "-p", str(self.dir), "-e", str(self.dir / "error.log"), "-c", str(conf), *extra]

    def start(self, timeout=15):
        self.write_config()
        check = subprocess.run(self.command("-t"), capture_output=True, text=True, timeout=30)
        assert check.returncode == 0, check.stderr
        self.process = subprocess.Popen(
            self.command("-g", "daemon off;"), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
        )
        deadline = time.monotonic() + timeout
        while not self._answers():
            if self.process.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError("nginx did not start:\n" + self.error_log())
            time.sleep(0.05)
        return self

    def _answers(self):
        context = ssl.create_default_context(cafile=str(self.certificates.ca))
        try:
            with socket.create_connection((self.host, self.https_port), timeout=1) as raw:
                with context.wrap_socket(raw, server_hostname=self.host):
                    return True
        except OSError:
            return False

    def error_log(self):
        path = self.dir / "error.log"
        return path.read_text() if path.exists() else ""

    def stop(self):
        if self.process and self.process.poll() is None:
            self.process.terminate()  # SIGTERM: fast shutdown of the master and its worker
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=5)
        if self.process and self.process.stdout:
            self.process.stdout.close()
