"""Run the test OpenID provider (provider.mjs) and drive its login pages.

``start_oidc_provider`` runs oidc-provider under Node.js on loopback;
``complete_login`` plays the browser through login and consent with plain
HTTP and returns the redirect back to the client without following it.
"""

from __future__ import annotations

import collections
import contextlib
import json
import os
import shutil
import socket
import subprocess
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from html.parser import HTMLParser
from urllib.parse import parse_qs, urljoin, urlsplit

import requests

HERE = os.path.dirname(os.path.abspath(__file__))
PROVIDER_SCRIPT = os.path.join(HERE, "provider.mjs")
NODE_MODULES = os.path.join(HERE, "node_modules")
INSTALL_HINT = "run `npm ci --prefix tests/oidc` from the repository root"

DEFAULT_CLIENT_ID = "microblog"
DEFAULT_CLIENT_SECRET = "microblog-secret"  # noqa: S105 - test-only credential
HTTP_TIMEOUT = 10.0


class OIDCHarnessError(RuntimeError):
    """The test provider could not be started or driven."""


@dataclass
class OIDCProvider:
    """A running provider.mjs process (see ``start_oidc_provider``)."""

    issuer: str
    port: int
    base_url: str
    client_id: str
    client_secret: str
    redirect_uris: list[str]
    client_auth_method: str
    process: subprocess.Popen = field(repr=False)
    _lines: collections.deque = field(repr=False)

    @property
    def metadata_url(self) -> str:
        return self.issuer + "/.well-known/openid-configuration"

    def metadata(self) -> dict:
        resp = requests.get(self.metadata_url, timeout=HTTP_TIMEOUT)
        resp.raise_for_status()
        return resp.json()

    def output(self) -> str:
        """Everything the provider printed so far (stdout and stderr)."""
        return "".join(self._lines)


def _require_node_modules() -> None:
    marker = os.path.join(NODE_MODULES, "oidc-provider", "package.json")
    if not os.path.isfile(marker):
        raise OIDCHarnessError(f"oidc-provider is not installed in {NODE_MODULES}: {INSTALL_HINT}")


def _as_list(value: str | Sequence[str] | None) -> list[str]:
    if value is None:
        return []
    if isinstance(value, str):
        return [value]
    return list(value)


@contextlib.contextmanager
def start_oidc_provider(
    *,
    redirect_uris: str | Sequence[str],
    client_id: str = DEFAULT_CLIENT_ID,
    client_secret: str = DEFAULT_CLIENT_SECRET,
    port: int | None = None,
    issuer: str | None = None,
    accounts: Mapping[str, Mapping[str, object]] | None = None,
    client_auth_method: str = "client_secret_basic",
    post_logout_redirect_uris: str | Sequence[str] | None = None,
    conform_id_token_claims: bool = False,
    startup_timeout: float = 15.0,
) -> Iterator[OIDCProvider]:
    """Start provider.mjs on 127.0.0.1 and stop it on exit.

    ``port=None`` picks a free port. ``issuer`` defaults to
    ``http://127.0.0.1:<port>``; ``{port}`` in it is replaced by the bound
    port, and a path in it mounts the provider there. ``accounts`` maps a
    login to claim overrides (``None`` drops a claim).
    """
    if not _as_list(redirect_uris):
        raise ValueError("redirect_uris must name at least one URI")
    _require_node_modules()
    node = os.environ.get("NODE") or shutil.which("node")
    if not node:
        raise OIDCHarnessError("Node.js (`node`) is not on PATH")

    env = dict(os.environ)
    env.update(
        PORT=str(port or 0),
        CLIENT_ID=client_id,
        CLIENT_SECRET=client_secret,
        REDIRECT_URIS=json.dumps(_as_list(redirect_uris)),
        POST_LOGOUT_REDIRECT_URIS=json.dumps(_as_list(post_logout_redirect_uris)),
        CLIENT_AUTH_METHOD=client_auth_method,
        ACCOUNTS=json.dumps(dict(accounts or {})),
        CONFORM_ID_TOKEN_CLAIMS="1" if conform_id_token_claims else "0",
    )
    if issuer:
        env["ISSUER"] = issuer
    else:
        env.pop("ISSUER", None)

    # A start that prints nothing in time is retried once: a rare stall of Node's start-up
    # on a loaded 2-core machine should not fail the suite; a crash is reported at once.
    for attempt in (1, 2):
        proc, reader, lines, ready = _launch(node, env)
        if ready_wait(ready, startup_timeout):
            break
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(timeout=2)  # a crash: let it be reaped for its exit code
        exited = proc.poll() is not None
        output = "".join(lines)
        _stop(proc, reader)
        if exited or attempt == 2:
            state = "exited" if exited else "timed out"
            raise OIDCHarnessError(
                f"oidc test provider {state} before READY (exit code {proc.poll()}):\n{output}"
            )
    try:
        _, base_url, actual_issuer = ready["line"].split()
        yield OIDCProvider(
            issuer=actual_issuer,
            port=int(urlsplit(base_url).port or 0),
            base_url=base_url,
            client_id=client_id,
            client_secret=client_secret,
            redirect_uris=_as_list(redirect_uris),
            client_auth_method=client_auth_method,
            process=proc,
            _lines=lines,
        )
    finally:
        _stop(proc, reader)


def ready_wait(ready: dict, timeout: float) -> bool:
    """Wait for the READY line (or the end of output); True when READY came."""
    return ready["event"].wait(timeout) and "line" in ready


def _launch(node: str, env: dict) -> tuple:
    """Start provider.mjs and a thread that reads its output, noting the READY line."""
    proc = subprocess.Popen(
        [node, PROVIDER_SCRIPT],
        cwd=HERE,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        bufsize=1,
    )
    lines: collections.deque[str] = collections.deque(maxlen=2000)
    ready: dict = {"event": threading.Event()}

    def pump() -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            lines.append(line)
            if "line" not in ready and line.startswith("READY "):
                ready["line"] = line
                ready["event"].set()
        ready["event"].set()  # EOF: the process died

    reader = threading.Thread(target=pump, name="oidc-provider-output", daemon=True)
    reader.start()
    return proc, reader, lines, ready


def _stop(proc: subprocess.Popen, reader: threading.Thread) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=5)
    reader.join(timeout=5)  # drains the rest of the output, then sees EOF
    if proc.stdout is not None and not reader.is_alive():
        proc.stdout.close()


# --- driving the login pages -------------------------------------------------


@dataclass
class Form:
    """One <form> of a page: where it posts and what it would submit."""

    action: str
    method: str
    fields: dict[str, str] = field(default_factory=dict)
    buttons: list[tuple[str, str]] = field(default_factory=list)
    attrs: dict[str, str] = field(default_factory=dict)

    def has_field(self, name: str) -> bool:
        return name in self.fields


class _FormParser(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.forms: list[Form] = []
        self._current: Form | None = None
        self._button: tuple[str, str] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        if tag == "form":
            self._current = Form(
                action=a.get("action", ""),
                method=(a.get("method") or "get").lower(),
                attrs=a,
            )
            self.forms.append(self._current)
        elif self._current is None:
            return
        elif tag == "input":
            kind = a.get("type", "text").lower()
            name = a.get("name")
            if not name:
                return
            if kind in ("submit", "image"):
                self._current.buttons.append((name, a.get("value", "")))
            elif kind in ("checkbox", "radio"):
                if "checked" in a:
                    self._current.fields[name] = a.get("value", "on")
            else:
                self._current.fields[name] = a.get("value", "")
        elif tag == "button":
            if a.get("type", "submit").lower() == "submit":
                self._current.buttons.append((a.get("name", ""), a.get("value", "")))

    def handle_endtag(self, tag: str) -> None:
        if tag == "form":
            self._current = None


def parse_forms(html: str) -> list[Form]:
    """All forms of an HTML page (stdlib html.parser)."""
    parser = _FormParser()
    parser.feed(html)
    parser.close()
    return parser.forms


def _origin(url: str) -> tuple[str, str]:
    parts = urlsplit(url)
    return parts.scheme, parts.netloc


def _page_error(resp: requests.Response) -> str:
    text = resp.text
    return f"HTTP {resp.status_code} at {resp.url}: {text[:2000]}"


def complete_login(
    auth_url: str,
    username: str,
    approve: bool = True,
    *,
    session: requests.Session | None = None,
    redirect_uri: str | None = None,
    timeout: float = HTTP_TIMEOUT,
    max_steps: int = 20,
) -> str:
    """Play the browser from ``auth_url`` to the redirect back to the client.

    Follows the provider's redirects, types ``username`` into the login form
    and approves (or, with ``approve=False``, denies) consent. Returns the
    ``Location`` that points back at the client (its ``redirect_uri``, or
    failing that the first one that leaves the provider's origin) without
    requesting it. Pass ``session`` to keep the provider's cookies (SSO).
    """
    if session is None:
        with requests.Session() as own:
            return complete_login(
                auth_url,
                username,
                approve,
                session=own,
                redirect_uri=redirect_uri,
                timeout=timeout,
                max_steps=max_steps,
            )
    http = session
    provider_origin = _origin(auth_url)
    saw_consent = False
    method, url, data = "GET", auth_url, None

    for _ in range(max_steps):
        resp = http.request(method, url, data=data, allow_redirects=False, timeout=timeout)
        if resp.is_redirect or resp.status_code in (301, 302, 303, 307, 308):
            location = urljoin(resp.url, resp.headers["Location"])
            back = location.startswith(redirect_uri) if redirect_uri else _origin(location) != provider_origin
            if back:
                if not approve and not saw_consent and "error=" not in location:
                    raise OIDCHarnessError(
                        f"asked to deny consent but no consent page was shown; "
                        f"the provider redirected to {location}"
                    )
                return location
            method, url, data = "GET", location, None
            continue
        if resp.status_code != 200:
            raise OIDCHarnessError(_page_error(resp))

        forms = parse_forms(resp.text)
        login_form = next((f for f in forms if f.has_field("login")), None)
        consent_form = next((f for f in forms if any(n == "decision" for n, _ in f.buttons)), None)
        if login_form is not None:
            fields = dict(login_form.fields, login=username)
            form = login_form
        elif consent_form is not None:
            saw_consent = True
            fields = dict(consent_form.fields, decision="approve" if approve else "deny")
            form = consent_form
        else:
            raise OIDCHarnessError("no login or consent form: " + _page_error(resp))
        target = urljoin(resp.url, form.action or resp.url)
        if form.method == "post":
            method, url, data = "POST", target, fields
        else:
            method, url, data = "GET", target + "?" + requests.compat.urlencode(fields), None

    raise OIDCHarnessError(f"no redirect back to the client after {max_steps} steps")


def complete_logout(
    logout_url: str,
    *,
    session: requests.Session,
    sign_out: bool = True,
    timeout: float = HTTP_TIMEOUT,
    max_steps: int = 10,
) -> str:
    """Play the browser through RP-initiated logout at the provider.

    ``session`` must hold the provider cookies from ``complete_login``.
    Returns the ``Location`` leaving the provider (the client's
    post_logout_redirect_uri), else the URL of the provider's final page.
    """
    provider_origin = _origin(logout_url)
    method, url, data = "GET", logout_url, None
    for _ in range(max_steps):
        resp = session.request(method, url, data=data, allow_redirects=False, timeout=timeout)
        if resp.status_code in (301, 302, 303, 307, 308):
            location = urljoin(resp.url, resp.headers["Location"])
            if _origin(location) != provider_origin:
                return location
            method, url, data = "GET", location, None
            continue
        if resp.status_code != 200:
            raise OIDCHarnessError(_page_error(resp))
        form = next(
            (f for f in parse_forms(resp.text) if any(n == "logout" for n, _ in f.buttons)),
            None,
        )
        if form is None:
            return resp.url
        fields = dict(form.fields)
        if sign_out:
            fields["logout"] = "yes"
        method, url, data = "POST", urljoin(resp.url, form.action or resp.url), fields
    raise OIDCHarnessError(f"logout did not finish after {max_steps} steps")


def callback_params(callback_url: str) -> dict[str, str]:
    """The query parameters of a callback URL, one value each."""
    return {k: v[-1] for k, v in parse_qs(urlsplit(callback_url).query).items()}


def wait_for_port_free(port: int, timeout: float = 5.0) -> None:
    """Wait (bounded) until nothing accepts connections on 127.0.0.1:port."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with socket.socket() as sock:
            sock.settimeout(0.2)
            if sock.connect_ex(("127.0.0.1", port)) != 0:
                return
        time.sleep(0.05)
    raise OIDCHarnessError(f"port {port} still in use after {timeout}s")
