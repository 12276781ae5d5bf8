"""Protocol helpers for the development provider, on python3-openid's server module."""

from flask import Response, render_template, url_for
from markupsafe import Markup
from openid.extensions import ax, sreg
from openid.server.server import ENCODE_HTML_FORM, Server

from app.openid_store import DatabaseOpenIDStore

AX_NICKNAME = ("http://axschema.org/namePerson/friendly", "http://schema.openid.net/namePerson/friendly")
AX_EMAIL = ("http://axschema.org/contact/email", "http://schema.openid.net/contact/email")


def openid_server():
    """A python3-openid Server answering at this site's provider endpoint."""
    return Server(DatabaseOpenIDStore(), url_for("devprovider.endpoint", _external=True))


def identity_url(name):
    """The OpenID identity URL of a local test account."""
    return url_for("devprovider.identity", name=name, _external=True)


def add_profile(openid_request, response, nickname, email):
    """Answer the SReg and AX questions of the request with the given profile."""
    data = {key: value for key, value in (("nickname", nickname), ("email", email)) if value}
    sreg_request = sreg.SRegRequest.fromOpenIDRequest(openid_request)
    response.addExtension(sreg.SRegResponse.extractResponse(sreg_request, data))
    ax_request = ax.FetchRequest.fromOpenIDRequest(openid_request)
    if ax_request is None:
        return
    ax_response = ax.FetchResponse(request=ax_request)
    for uris, value in ((AX_NICKNAME, nickname), (AX_EMAIL, email)):
        for uri in uris:
            if value and uri in ax_request.requested_attributes:
                ax_response.addValue(uri, value)
    response.addExtension(ax_response)


def to_flask_response(server, openid_response):
    """Encode a python3-openid answer as a Flask response.

    A long answer becomes an auto-submitting form; we render it in our own
    template (with a static script) so the page keeps the strict CSP.
    """
    if openid_response.whichEncoding() == ENCODE_HTML_FORM:
        signed = server.signatory.sign(openid_response) if openid_response.needsSigning() else openid_response
        form = Markup(signed.toFormMarkup({"id": "openid-autosubmit"}))  # noqa: S704 (library escapes values)
        return render_template("devprovider/autosubmit.html", form=form)
    web = server.encodeResponse(openid_response)
    response = Response(web.body, status=web.code)
    for name, value in web.headers.items():
        response.headers[name] = value
    if "location" not in {k.lower() for k in web.headers}:
        response.mimetype = "text/plain"
    return response
