"""A hostile OpenID provider that forges ID tokens, for attack tests.

A tiny werkzeug WSGI app on 127.0.0.1 (in a thread). ``/authorize`` skips
login and redirects straight back with a code; ``/token`` returns an
id_token crafted according to ``provider.mode`` (see ``MODES``).
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import hmac
import json
import secrets
import threading
import time
import warnings
from collections.abc import Iterator
from urllib.parse import urlencode

from authlib.oidc.core.util import create_half_hash
from joserfc import jwt
from joserfc.jwk import RSAKey
from joserfc.jws import JWSRegistry
from werkzeug.serving import make_server
from werkzeug.wrappers import Request, Response

MODES = (
    "good",  # valid RS256 id_token signed by the published key
    "wrong_nonce",  # nonce differs from the one sent to /authorize
    "missing_nonce",  # no nonce claim although one was sent
    "wrong_aud",  # audience is another client
    "wrong_aud_with_azp",  # audience is another client, azp names ours
    "wrong_iss",  # issuer is another provider
    "expired",  # exp (and iat) in the past
    "bad_signature",  # published key and kid, payload altered after signing
    "alg_none",  # unsigned token, header alg "none", no at_hash
    "unknown_kid",  # signed by an unpublished key whose kid is not in the JWKS
    "hs256_with_public_key",  # HS256 with the RSA public key PEM as HMAC secret
    "embedded_jwk",  # attacker key in the header "jwk" (published kid), signed by it
    "jku",  # attacker JWKS URL in the header "jku", signed by that key
    "wrong_at_hash",  # valid signature, at_hash of another access token
    "userinfo_wrong_sub",  # good id_token, /userinfo answers another sub
)

_registry = JWSRegistry(strict_check_header=False)


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _b64json(obj: dict) -> str:
    return _b64(json.dumps(obj, separators=(",", ":")).encode())


def _generate_key(prefix: str, bits: int) -> RSAKey:
    kid = f"{prefix}-{secrets.token_hex(4)}"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # joserfc's SecurityWarning for the small key
        return RSAKey.generate_key(bits, parameters={"kid": kid, "alg": "RS256", "use": "sig"}, private=True)


class _KeyPool:
    """RSA keys made once per test run and lent out: generating three per provider cost ~0.3 s a test.

    A key is lent to one running provider at a time, so providers alive together never share a key
    (or a kid); a stopped provider's keys go back for the next one. Every app under test is new and
    fetches the keys afresh, so nothing can tell a reused key from a new one.
    """

    def __init__(self) -> None:
        self._free: dict[tuple[str, int], list[RSAKey]] = {}
        self._lock = threading.Lock()

    def take(self, prefix: str, bits: int) -> RSAKey:
        with self._lock:
            free = self._free.get((prefix, bits))
            if free:
                return free.pop()
        return _generate_key(prefix, bits)

    def give_back(self, keys: list[tuple[str, int, RSAKey]]) -> None:
        with self._lock:
            for prefix, bits, key in keys:
                self._free.setdefault((prefix, bits), []).append(key)


_KEYS = _KeyPool()


def _json(data: dict, status: int = 200) -> Response:
    return Response(
        json.dumps(data),
        status=status,
        mimetype="application/json",
        headers={"Cache-Control": "no-store"},
    )


class ForgingProvider:
    """State and WSGI app of the forging provider; see ``start_forging_provider``."""

    def __init__(self, client_id: str, client_secret: str) -> None:
        self.client_id = client_id
        self.client_secret = client_secret
        self.issuer = ""  # set once the server is bound
        self._mode = "good"
        self.lock = threading.Lock()
        self._borrowed: list[tuple[str, int, RSAKey]] = []
        self.published_keys: list[RSAKey] = [self._new_key("forge")]
        self.signing_key: RSAKey = self.published_keys[0]
        self.attacker_key: RSAKey = self._new_key("attacker")
        # joserfc refuses JWS headers over 512 bytes; a 1024-bit key keeps the
        # embedded "jwk" under that, so a verifier fails on the signature itself.
        self.embedded_key: RSAKey = self._new_key("embedded", bits=1024)
        # advertised in metadata; Authlib takes its allowed algs from here
        self.id_token_signing_algs: list[str] | None = ["RS256"]
        self.claims: dict[str, object] = {
            "sub": "forged-user",
            "email": "forged-user@example.test",
            "email_verified": True,
            "preferred_username": "forged-user",
            "nickname": "forged-user",
            "name": "Forged User",
        }
        self.codes: dict[str, dict] = {}
        self.access_tokens: dict[str, dict] = {}
        self.authorize_requests: list[dict] = []
        self.token_requests: list[dict] = []
        self.jwks_requests = 0
        self.last_id_token: str | None = None

    def _new_key(self, prefix: str, bits: int = 2048) -> RSAKey:
        """A key (with its own kid) that no other running provider holds."""
        key = _KEYS.take(prefix, bits)
        with self.lock:
            self._borrowed.append((prefix, bits, key))
        return key

    def release_keys(self) -> None:
        """Hand this provider's keys back for the next one (once it has stopped serving)."""
        with self.lock:
            borrowed, self._borrowed = self._borrowed, []
        _KEYS.give_back(borrowed)

    # -- test controls ------------------------------------------------------

    @property
    def mode(self) -> str:
        return self._mode

    @mode.setter
    def mode(self, value: str) -> None:
        if value not in MODES:
            raise ValueError(f"unknown mode {value!r}; one of {', '.join(MODES)}")
        self._mode = value

    @property
    def metadata_url(self) -> str:
        return self.issuer + "/.well-known/openid-configuration"

    def rotate_key(self, retire_old: bool = False) -> RSAKey:
        """Publish a new key (with a new kid) and sign with it from now on."""
        key = self._new_key("forge")
        with self.lock:
            self.published_keys = ([] if retire_old else self.published_keys) + [key]
            self.signing_key = key
        return key

    def jwks(self) -> dict:
        return {"keys": [k.as_dict(private=False) for k in self.published_keys]}

    # -- token crafting -----------------------------------------------------

    def _sign(self, header: dict, claims: dict, key: RSAKey) -> str:
        return jwt.encode(header, claims, key, registry=_registry)

    def make_id_token(self, code_data: dict, access_token: str) -> str:
        """The id_token for ``self.mode``; ``code_data`` is what /authorize kept."""
        now = int(time.time())
        claims: dict[str, object] = dict(self.claims)
        claims.update(
            iss=self.issuer,
            aud=self.client_id,
            iat=now,
            exp=now + 300,
            auth_time=now,
            at_hash=create_half_hash(access_token, "RS256").decode("ascii"),
        )
        if code_data.get("nonce") is not None:
            claims["nonce"] = code_data["nonce"]
        key = self.signing_key
        header = {"alg": "RS256", "typ": "JWT", "kid": key.kid}
        mode = self.mode

        if mode == "wrong_nonce":
            claims["nonce"] = "forged-" + secrets.token_urlsafe(8)
        elif mode == "missing_nonce":
            claims.pop("nonce", None)
        elif mode == "wrong_aud":
            claims["aud"] = "some-other-client"
        elif mode == "wrong_aud_with_azp":
            claims.update(aud="some-other-client", azp=self.client_id)
        elif mode == "wrong_iss":
            claims["iss"] = "https://evil.example.test"
        elif mode == "expired":
            claims.update(iat=now - 7200, auth_time=now - 7200, exp=now - 3600)
        elif mode == "wrong_at_hash":
            other = "other-" + secrets.token_urlsafe(16)
            claims["at_hash"] = create_half_hash(other, "RS256").decode("ascii")
        elif mode == "bad_signature":
            signed = self._sign(header, claims, key)
            head, _, sig = signed.split(".")
            tampered = dict(claims, sub="admin")
            return f"{head}.{_b64json(tampered)}.{sig}"
        elif mode == "alg_none":
            claims.pop("at_hash")  # optional in the code flow; its hash alg follows "alg"
            return f"{_b64json({'alg': 'none', 'typ': 'JWT'})}.{_b64json(claims)}."
        elif mode == "unknown_kid":
            stray = self._new_key("unknown")
            return self._sign({"alg": "RS256", "typ": "JWT", "kid": stray.kid}, claims, stray)
        elif mode == "hs256_with_public_key":
            secret = key.as_pem(private=False)
            head = {"alg": "HS256", "typ": "JWT", "kid": key.kid}
            signing_input = f"{_b64json(head)}.{_b64json(claims)}"
            mac = hmac.new(secret, signing_input.encode("ascii"), hashlib.sha256)
            return f"{signing_input}.{_b64(mac.digest())}"
        elif mode == "embedded_jwk":
            attacker = self.embedded_key
            head = dict(header, jwk=attacker.as_dict(private=False))
            return self._sign(head, claims, attacker)
        elif mode == "jku":
            attacker = self.attacker_key
            head = {
                "alg": "RS256",
                "typ": "JWT",
                "kid": attacker.kid,
                "jku": self.issuer + "/attacker-jwks",
            }
            return self._sign(head, claims, attacker)
        return self._sign(header, claims, key)

    # -- WSGI ---------------------------------------------------------------

    def __call__(self, environ, start_response):
        request = Request(environ)
        routes = {
            "/.well-known/openid-configuration": self._metadata,
            "/jwks": self._jwks,
            "/attacker-jwks": self._attacker_jwks,
            "/authorize": self._authorize,
            "/token": self._token,
            "/userinfo": self._userinfo,
        }
        handler = routes.get(request.path)
        if handler is None:
            response = _json({"error": "not_found"}, 404)
        else:
            response = handler(request)
        return response(environ, start_response)

    def _metadata(self, request: Request) -> Response:
        data = {
            "issuer": self.issuer,
            "authorization_endpoint": self.issuer + "/authorize",
            "token_endpoint": self.issuer + "/token",
            "userinfo_endpoint": self.issuer + "/userinfo",
            "jwks_uri": self.issuer + "/jwks",
            "response_types_supported": ["code"],
            "subject_types_supported": ["public"],
            "scopes_supported": ["openid", "email", "profile"],
            "grant_types_supported": ["authorization_code"],
            "token_endpoint_auth_methods_supported": [
                "client_secret_basic",
                "client_secret_post",
            ],
            "code_challenge_methods_supported": ["S256"],
            "claims_supported": ["sub", "iss", "aud", "exp", "iat", "nonce", *self.claims],
        }
        if self.id_token_signing_algs is not None:
            data["id_token_signing_alg_values_supported"] = list(self.id_token_signing_algs)
        return _json(data)

    def _jwks(self, request: Request) -> Response:
        with self.lock:
            self.jwks_requests += 1
            return _json(self.jwks())

    def _attacker_jwks(self, request: Request) -> Response:
        return _json({"keys": [self.attacker_key.as_dict(private=False)]})

    def _authorize(self, request: Request) -> Response:
        args = request.args
        record = {k: args.get(k) for k in args}
        self.authorize_requests.append(record)
        redirect_uri = args.get("redirect_uri")
        if args.get("client_id") != self.client_id or not redirect_uri:
            return _json({"error": "invalid_request"}, 400)
        code = secrets.token_urlsafe(24)
        self.codes[code] = {
            "nonce": args.get("nonce"),
            "redirect_uri": redirect_uri,
            "code_challenge": args.get("code_challenge"),
            "code_challenge_method": args.get("code_challenge_method"),
            "scope": args.get("scope", ""),
        }
        params = {"code": code}
        if args.get("state") is not None:
            params["state"] = args["state"]
        sep = "&" if "?" in redirect_uri else "?"
        return Response(status=302, headers={"Location": redirect_uri + sep + urlencode(params)})

    def _client_auth(self, request: Request) -> tuple[str | None, str]:
        auth = request.authorization
        if auth is not None and auth.type == "basic":
            return "client_secret_basic", auth.username or ""
        if request.form.get("client_secret") is not None:
            return "client_secret_post", request.form.get("client_id", "")
        return None, request.form.get("client_id", "")

    def _token(self, request: Request) -> Response:
        form = request.form
        method, client_id = self._client_auth(request)
        self.token_requests.append({"auth_method": method, **{k: form.get(k) for k in form}})
        if method == "client_secret_basic":
            secret = request.authorization.password or ""
        else:
            secret = form.get("client_secret") or ""
        if (
            method is None
            or client_id != self.client_id
            or not hmac.compare_digest(secret, self.client_secret)
        ):
            return _json({"error": "invalid_client"}, 401)
        if form.get("grant_type") != "authorization_code":
            return _json({"error": "unsupported_grant_type"}, 400)
        data = self.codes.pop(form.get("code", ""), None)
        if data is None or form.get("redirect_uri") != data["redirect_uri"]:
            return _json({"error": "invalid_grant"}, 400)
        if data["code_challenge"]:
            verifier = form.get("code_verifier") or ""
            digest = _b64(hashlib.sha256(verifier.encode("ascii")).digest())
            if data["code_challenge_method"] != "S256" or not hmac.compare_digest(
                digest, data["code_challenge"]
            ):
                return _json({"error": "invalid_grant", "error_description": "PKCE"}, 400)
        access_token = secrets.token_urlsafe(32)
        id_token = self.make_id_token(data, access_token)
        self.last_id_token = id_token
        self.access_tokens[access_token] = {"scope": data["scope"], "mode": self.mode}
        return _json(
            {
                "access_token": access_token,
                "token_type": "Bearer",
                "expires_in": 300,
                "scope": data["scope"],
                "id_token": id_token,
            }
        )

    def _userinfo(self, request: Request) -> Response:
        auth = request.headers.get("Authorization", "")
        token = auth[7:] if auth.lower().startswith("bearer ") else ""
        info = self.access_tokens.get(token)
        if info is None:
            return Response(status=401, headers={"WWW-Authenticate": 'Bearer error="invalid_token"'})
        claims = dict(self.claims)
        if info["mode"] == "userinfo_wrong_sub":
            claims["sub"] = "someone-else"
        return _json(claims)


@contextlib.contextmanager
def start_forging_provider(
    client_id: str = "microblog",
    client_secret: str = "microblog-secret",  # noqa: S107 - test-only credential
    port: int = 0,
) -> Iterator[ForgingProvider]:
    """Serve a ``ForgingProvider`` on 127.0.0.1 in a thread until exit."""
    provider = ForgingProvider(client_id, client_secret)
    server = make_server("127.0.0.1", port, provider, threaded=True)
    provider.issuer = f"http://127.0.0.1:{server.server_port}"
    thread = threading.Thread(
        target=server.serve_forever,
        kwargs={"poll_interval": 0.05},  # quick shutdown()
        name="forging-provider",
        daemon=True,
    )
    thread.start()
    try:
        yield provider
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
        provider.release_keys()
