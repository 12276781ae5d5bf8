"""The tests' separate OpenID provider, run on its own for the benchmark, timing its own work.

    python bench/provider.py      # prints its base URL, then serves until killed

GET /__stats returns how long it has spent serving the relying party's back-channel
requests (discovery, association) and the browser's requests (checkid), so the
benchmark can subtract the provider's share from a sign-in round trip.

Under /oidc it also serves an OpenID Connect discovery document (issuer BASE/oidc), enough
for the app to start a sign-in there: the benchmark measures the memory of workers that
have an OpenID Connect provider configured and have used it, not a full OIDC sign-in.
"""

import json
import sys
import threading
import time
from pathlib import Path

from werkzeug.wrappers import Request, Response

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.support.openid_provider import TestOpenIDProvider  # noqa: E402

BROWSER_MODES = ("checkid_setup", "checkid_immediate")
OIDC_PREFIX = "/oidc"
DISCOVERY_PATH = OIDC_PREFIX + "/.well-known/openid-configuration"


class TimedProvider(TestOpenIDProvider):
    """TestOpenIDProvider that adds up its handling time per kind of request."""

    def __init__(self):
        super().__init__()
        self.lock = threading.Lock()
        self.seconds = {"back_channel_seconds": 0.0, "browser_seconds": 0.0}
        self.behaviour.profiles["bench"] = {"nickname": "bench", "email": "bench@example.test"}

    def wsgi(self, environ, start_response):
        request = Request(environ)
        if request.path == "/__stats":
            with self.lock:
                body = json.dumps(self.seconds)
            return Response(body, mimetype="application/json")(environ, start_response)
        if request.path.startswith(OIDC_PREFIX):
            return self.oidc(request)(environ, start_response)
        began = time.perf_counter()
        response = self.route(request)
        elapsed = time.perf_counter() - began
        mode = request.values.get("openid.mode")
        kind = "browser_seconds" if mode in BROWSER_MODES else "back_channel_seconds"
        with self.lock:
            self.seconds[kind] += elapsed
        self.requests.clear()  # the benchmark does not need the request history
        return response(environ, start_response)

    def oidc(self, request):
        """The discovery document and an empty key set; the other endpoints are never reached."""
        issuer = self.base_url + OIDC_PREFIX
        if request.path == DISCOVERY_PATH:
            document = {
                "issuer": issuer,
                "authorization_endpoint": issuer + "/authorize",
                "token_endpoint": issuer + "/token",
                "jwks_uri": issuer + "/jwks",
                "response_types_supported": ["code"],
                "subject_types_supported": ["public"],
                "id_token_signing_alg_values_supported": ["RS256"],
                "code_challenge_methods_supported": ["S256"],
            }
            return Response(json.dumps(document), mimetype="application/json")
        if request.path == OIDC_PREFIX + "/jwks":
            return Response(json.dumps({"keys": []}), mimetype="application/json")
        return Response("not found", status=404)


def main():
    import logging

    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    provider = TimedProvider().start()
    print(provider.base_url, flush=True)
    threading.Event().wait()


if __name__ == "__main__":
    main()
