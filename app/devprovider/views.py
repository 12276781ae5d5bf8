"""Views of the development OpenID 2.0 provider: discovery, endpoint, approval page."""

import re

from flask import abort, flash, redirect, render_template, request, session, url_for
from openid.server.server import ProtocolError

from app.devprovider import bp
from app.devprovider.forms import NAME_RULE, ApproveForm
from app.devprovider.provider import add_profile, identity_url, openid_server, to_flask_response
from app.extensions import csrf

PENDING_KEY = "devop_request"


def pending_request():
    """The sign-in request waiting for approval in this browser, or None."""
    args = session.get(PENDING_KEY)
    if not isinstance(args, dict):
        return None
    try:
        return openid_server().decodeRequest(args)
    except ProtocolError:
        return None


def nothing_pending():
    """The page shown when no sign-in is waiting for approval in this browser."""
    flash("There is no sign-in waiting for approval.", "info")
    return render_template("devprovider/about.html")


@bp.get("/")
def op_identifier():
    """The provider's own identifier: an XRDS document for directed identity."""
    xrds = render_template("devprovider/op.xrds", endpoint=url_for("devprovider.endpoint", _external=True))
    return xrds, 200, {"Content-Type": "application/xrds+xml"}


@bp.get("/<name>")
def identity(name):
    """A local test account's identity page, found by HTML discovery."""
    if not re.match(NAME_RULE, name):
        abort(404)
    return render_template(
        "devprovider/identity.html",
        name=name,
        endpoint=url_for("devprovider.endpoint", _external=True),
        identity=identity_url(name),
    )


@bp.route("/endpoint", methods=["GET", "POST"])
@csrf.exempt  # OpenID protocol messages (associate, check_authentication) come from other servers
def endpoint():
    """The OpenID endpoint: answers protocol requests, sends people to the approval page."""
    server = openid_server()
    args = request.args.to_dict() if request.method == "GET" else request.form.to_dict()
    try:
        openid_request = server.decodeRequest(args)
    except ProtocolError as exc:
        if exc.whichEncoding() is None:  # no return_to to answer to: say it here instead
            return render_template("errors/error.html", code=400, title="Bad request", message=str(exc)), 400
        return to_flask_response(server, exc)
    if openid_request is None:
        return render_template("devprovider/about.html"), 200
    if openid_request.mode == "checkid_immediate":
        return to_flask_response(server, openid_request.answer(False))
    if openid_request.mode == "checkid_setup":
        session[PENDING_KEY] = args
        return redirect(url_for("devprovider.approve"))
    return to_flask_response(server, server.handleRequest(openid_request))


@bp.get("/approve")
def approve():
    """Ask the person to approve or cancel the pending sign-in."""
    openid_request = pending_request()
    if openid_request is None:
        return nothing_pending()
    name = "" if openid_request.idSelect() else openid_request.identity.rstrip("/").rsplit("/", 1)[-1]
    form = ApproveForm(username=name, nickname=name, email=f"{name}@example.test" if name else "")
    return render_template("devprovider/approve.html", form=form, openid_request=openid_request)


@bp.post("/approve")
def decide():
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
        return render_template("devprovider/approve.html", form=form, openid_request=openid_request)
    session.pop(PENDING_KEY, None)
    # With directed identity the person picks the account; otherwise the identifier fixed it.
    claimed = identity_url(form.username.data) if openid_request.idSelect() else openid_request.identity
    response = openid_request.answer(True, identity=claimed, claimed_id=claimed)
    add_profile(openid_request, response, form.nickname.data, form.email.data)
    return to_flask_response(server, response)
