"""The local OpenID 2.0 provider on python3-openid's server module: discovery, endpoint, approval page.

It keeps associations and nonces in memory (python3-openid's MemoryStore): the development
server and the tests run it in one process.
"""

import re
from typing import Any

from flask import (
    Blueprint,
    Flask,
    Response,
    abort,
    current_app,
    flash,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from markupsafe import Markup
from openid.extensions import ax, sreg
from openid.server.server import ENCODE_HTML_FORM, OpenIDRequest, ProtocolError, Server
from openid.store.memstore import MemoryStore
from werkzeug.wrappers import Response as BaseResponse

from config import LOCAL_OPENID_ICON, LOCAL_PROVIDERS_NAME
from devproviders.common import Brand, SiteFacts, error_page, provider_app, site_address
from devproviders.forms import NAME_RULE, ApproveForm

PREFIX = "/dev-openid"
PENDING_KEY = "devop_request"
AX_NICKNAME = ("http://axschema.org/namePerson/friendly", "http://schema.openid.net/namePerson/friendly")
AX_EMAIL = ("http://axschema.org/contact/email", "http://schema.openid.net/contact/email")

bp = Blueprint("openid2", __name__)


def create_app(site: SiteFacts) -> Flask:
    """The local OpenID 2.0 provider as a WSGI app, to be mounted at PREFIX."""
    app = provider_app(__name__, PREFIX, site, Brand(LOCAL_OPENID_ICON, LOCAL_PROVIDERS_NAME))
    app.extensions["devproviders.openid2_store"] = MemoryStore()
    app.register_blueprint(bp)
    # OpenID protocol messages (associate, check_authentication) come from other servers, not forms.
    app.extensions["csrf"].exempt(endpoint)
    return app


# --- Protocol helpers ------------------------------------------------------------------------------


def openid_server() -> Server:
    """A python3-openid Server answering at this provider's endpoint."""
    return Server(
        current_app.extensions["devproviders.openid2_store"], url_for("openid2.endpoint", _external=True)
    )


def identity_url(name: str) -> str:
    """The OpenID identity URL of a local test account."""
    return url_for("openid2.identity", name=name, _external=True)


def add_profile(openid_request: Any, response: Any, nickname: str | None, email: str | None) -> None:
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


def to_flask_response(server: Server, openid_response: Any) -> Response | str:
    """Encode a python3-openid answer as a Flask response.

    A long answer becomes an auto-submitting form; we render it in our own
    template (with a static script) so the page keeps a strict CSP.
    """
    if openid_response.whichEncoding() == ENCODE_HTML_FORM:
        signed = server.signatory.sign(openid_response) if openid_response.needsSigning() else openid_response
        form = Markup(signed.toFormMarkup({"id": "openid-autosubmit"}))  # noqa: S704 (library escapes values)
        return render_template("devproviders/openid2_autosubmit.html", form=form)
    web = server.encodeResponse(openid_response)
    response = Response(web.body, status=web.code)
    for name, value in web.headers.items():
        response.headers[name] = value
    if "location" not in {k.lower() for k in web.headers}:
        response.mimetype = "text/plain"
    return response


def pending_request() -> OpenIDRequest | None:
    """The sign-in request waiting for approval in this browser, or None."""
    args = session.get(PENDING_KEY)
    if not isinstance(args, dict):
        return None
    try:
        return openid_server().decodeRequest(args)
    except ProtocolError:
        return None


def nothing_pending() -> str:
    """The page shown when no sign-in is waiting for approval in this browser."""
    flash("There is no sign-in waiting for approval.", "info")
    return render_template("devproviders/openid2_about.html")


# --- Views -----------------------------------------------------------------------------------------


@bp.get("/")
def op_identifier() -> tuple[str, int, dict[str, str]]:
    """The provider's own identifier: an XRDS document for directed identity."""
    xrds = render_template(
        "devproviders/openid2_op.xrds", endpoint=url_for("openid2.endpoint", _external=True)
    )
    return xrds, 200, {"Content-Type": "application/xrds+xml"}


@bp.get("/<name>")
def identity(name: str) -> str:
    """A local test account's identity page, found by HTML discovery."""
    if not re.match(NAME_RULE, name):
        abort(404)
    return render_template(
        "devproviders/openid2_identity.html",
        name=name,
        endpoint=url_for("openid2.endpoint", _external=True),
        identity=identity_url(name),
    )


@bp.route("/endpoint", methods=["GET", "POST"])
def endpoint() -> BaseResponse | str | tuple[str, int]:
    """The OpenID endpoint: answers protocol requests, sends people to the approval page."""
    server = openid_server()
    args = request.args.to_dict() if request.method == "GET" else request.form.to_dict()
    try:
        openid_request = server.decodeRequest(args)
    except ProtocolError as exc:
        if exc.whichEncoding() is None:  # no return_to to answer to: say it here instead
            return error_page("Bad request", str(exc), 400)
        return to_flask_response(server, exc)
    if openid_request is None:
        return render_template("devproviders/openid2_about.html"), 200
    if openid_request.mode == "checkid_immediate":
        return to_flask_response(server, openid_request.answer(False))
    if openid_request.mode == "checkid_setup":
        session[PENDING_KEY] = args
        return redirect(url_for("openid2.approve"))
    return to_flask_response(server, server.handleRequest(openid_request))


@bp.get("/approve")
def approve() -> str:
    """Ask the person to approve or cancel the pending sign-in."""
    openid_request = pending_request()
    if openid_request is None:
        return nothing_pending()
    name = "" if openid_request.idSelect() else openid_request.identity.rstrip("/").rsplit("/", 1)[-1]
    form = ApproveForm(username=name, nickname=name, email=f"{name}@example.test" if name else "")
    return approval_page(form, openid_request)


def approval_page(form: ApproveForm, openid_request: Any) -> str:
    """The approval page for a pending request, naming the site that asks by its address."""
    return render_template(
        "devproviders/openid2_approve.html",
        form=form,
        openid_request=openid_request,
        asking=site_address(openid_request.trust_root),
    )


@bp.post("/approve")
def decide() -> Response | str:
    """Send the person's answer (approve with the profile, or cancel) back to the site."""
    openid_request = pending_request()
    if openid_request is None:
        return nothing_pending()
    server = openid_server()
    if "cancel" in request.form:
        session.pop(PENDING_KEY, None)
        return to_flask_response(server, openid_request.answer(False))
    form = ApproveForm()
    if not form.validate():
        return approval_page(form, openid_request)
    session.pop(PENDING_KEY, None)
    assert form.username.data is not None  # DataRequired
    # With directed identity the person picks the account; otherwise the identifier fixed it.
    claimed = identity_url(form.username.data) if openid_request.idSelect() else openid_request.identity
    response = openid_request.answer(True, identity=claimed, claimed_id=claimed)
    add_profile(openid_request, response, form.nickname.data, form.email.data)
    return to_flask_response(server, response)
