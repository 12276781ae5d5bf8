"""The tests' separate OpenID provider, run on its own for the benchmark, timing its own work.

    python bench/provider.py      # prints its base URL, then serves until killed

GET /__stats returns how long it has spent serving the relying party's back-channel
requests (discovery, association) and the browser's requests (checkid), so the
benchmark can subtract the provider's share from a sign-in round trip.

(The memory probe's OpenID Connect sign-ins go to the tests' oidc-provider on Node.js instead:
tests/oidc/harness.py.)
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
        began = time.perf_counter()
        response = self.route(request)
        elapsed = time.perf_counter() - began
        mode = request.values.get("openid.mode")
        kind = "browser_seconds" if mode in BROWSER_MODES else "back_channel_seconds"
        with self.lock:
            self.seconds[kind] += elapsed
        self.requests.clear()  # the benchmark does not need the request history
        return response(environ, start_response)


def main():
    import logging

    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    provider = TimedProvider().start()
    print(provider.base_url, flush=True)
    threading.Event().wait()


if __name__ == "__main__":
    main()
