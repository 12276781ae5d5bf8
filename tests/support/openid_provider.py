"""A separate OpenID 2.0 provider for tests, on python3-openid's server module.

It answers automatically (no approval page) as the test tells it to, and can
be made to misbehave for the attack tests. It runs on its own loopback port.
"""

from dataclasses import dataclass, field

from openid.extensions import ax, sreg
from openid.message import OPENID_NS
from openid.server.server import Encoder, OpenIDResponse, ProtocolError, Server
from openid.store.memstore import MemoryStore
from werkzeug.wrappers import Request, Response

from tests.support.web import LiveServer

AX_URIS = {
    "nickname": "http://axschema.org/namePerson/friendly",
    "email": "http://axschema.org/contact/email",
}


@dataclass
class ProviderBehaviour:
    """How the provider answers the next sign-ins; tests change these fields."""

    decision: str = "approve"  # approve | cancel | setup_needed
    select_name: str = "selected"  # account chosen under directed identity
    profiles: dict = field(default_factory=dict)  # name -> {"nickname": .., "email": ..}
    pad_bytes: int = 0  # extra signed data, to force the auto-submitting form answer
    rewrite: object = None  # callable(response) applied before the answer is signed
    tamper: object = None  # callable(response) applied after the answer is signed


class TestOpenIDProvider:
    """A python3-openid provider served on 127.0.0.1 in a thread."""

    def __init__(self):
        self.behaviour = ProviderBehaviour()
        self.requests = []
        self._server = LiveServer(self.wsgi)
        self.base_url = self._server.url
        self.openid_server = Server(MemoryStore(), self.base_url + "/endpoint")

    def start(self):
        self._server.start()
        return self

    def stop(self):
        self._server.stop()

    def identity(self, name):
        """The HTML-discovered identity URL of an account."""
        return f"{self.base_url}/id/{name}"

    def yadis_identity(self, name):
        """An identity URL discovered through an XRDS document."""
        return f"{self.base_url}/xrds/{name}"

    @property
    def op_identifier(self):
        """The provider's own identifier (directed identity, as Steam uses)."""
        return f"{self.base_url}/"

    def wsgi(self, environ, start_response):
        request = Request(environ)
        response = self.route(request)
        return response(environ, start_response)

    def route(self, request):
        path = request.path
        if path == "/":
            return self.xrds(None)
        if path.startswith("/id/"):
            return self.html_identity(path.removeprefix("/id/"))
        if path.startswith("/xrds/"):
            return self.xrds(path.removeprefix("/xrds/"))
        if path == "/endpoint":
            return self.endpoint(request)
        return Response("not found", status=404)

    def html_identity(self, name):
        links = (
            f'<link rel="openid2.provider" href="{self.base_url}/endpoint">'
            f'<link rel="openid2.local_id" href="{self.identity(name)}">'
        )
        return Response(f"<html><head>{links}</head><body>{name}</body></html>", mimetype="text/html")

    def xrds(self, name):
        service_type = (
            "http://specs.openid.net/auth/2.0/server"
            if name is None
            else "http://specs.openid.net/auth/2.0/signon"
        )
        local_id = "" if name is None else f"<LocalID>{self.yadis_identity(name)}</LocalID>"
        body = (
            '<?xml version="1.0" encoding="UTF-8"?>'
            '<xrds:XRDS xmlns:xrds="xri://$xrds" xmlns="xri://$xrd*($v*2.0)"><XRD>'
            f'<Service priority="0"><Type>{service_type}</Type>'
            f"<URI>{self.base_url}/endpoint</URI>{local_id}</Service></XRD></xrds:XRDS>"
        )
        return Response(body, mimetype="application/xrds+xml")

    def endpoint(self, request):
        args = request.args.to_dict() if request.method == "GET" else request.form.to_dict()
        self.requests.append(args)
        try:
            openid_request = self.openid_server.decodeRequest(args)
        except ProtocolError as exc:
            return self.encode(exc)
        if openid_request is None:
            return Response("OpenID endpoint", status=200)
        if openid_request.mode not in ("checkid_setup", "checkid_immediate"):
            return self.encode(self.openid_server.handleRequest(openid_request))
        return self.encode(self.answer(openid_request), tamper=self.behaviour.tamper)

    def answer(self, openid_request):
        behaviour = self.behaviour
        if behaviour.decision == "setup_needed":
            response = OpenIDResponse(openid_request)
            response.fields.setArg(OPENID_NS, "mode", "setup_needed")
            return response
        if behaviour.decision != "approve":
            return openid_request.answer(False)
        if openid_request.idSelect():
            identity = self.identity(behaviour.select_name)
            response = openid_request.answer(True, identity=identity, claimed_id=identity)
            name = behaviour.select_name
        else:
            response = openid_request.answer(True)
            name = openid_request.identity.rstrip("/").rsplit("/", 1)[-1]
        self.add_profile(openid_request, response, behaviour.profiles.get(name, {}))
        if behaviour.pad_bytes:
            response.fields.setArg("http://example.test/pad", "pad", "x" * behaviour.pad_bytes)
        if behaviour.rewrite:
            behaviour.rewrite(response)
        return response

    @staticmethod
    def add_profile(openid_request, response, profile):
        sreg_request = sreg.SRegRequest.fromOpenIDRequest(openid_request)
        response.addExtension(sreg.SRegResponse.extractResponse(sreg_request, profile))
        ax_request = ax.FetchRequest.fromOpenIDRequest(openid_request)
        if ax_request is not None:
            ax_response = ax.FetchResponse(request=ax_request)
            for key, uri in AX_URIS.items():
                if profile.get(key) and uri in ax_request.requested_attributes:
                    ax_response.addValue(uri, profile[key])
            response.addExtension(ax_response)

    def encode(self, openid_response, tamper=None):
        """Sign when needed, let a test tamper with the signed answer, then encode it."""
        if getattr(openid_response, "needsSigning", lambda: False)():
            openid_response = self.openid_server.signatory.sign(openid_response)
        if tamper:
            tamper(openid_response)
        web = Encoder().encode(openid_response)
        status = web.code
        fields = getattr(openid_response, "fields", None)
        if fields is not None and fields.getArg(OPENID_NS, "error_code"):
            status = 400  # a direct error message (python3-openid's server sends its unsupported-type as 200)
        return Response(web.body, status=status, headers=web.headers, mimetype="text/html")
