"""Views of the development OpenID Connect provider: discovery, keys, approval page, token endpoint."""

from authlib.oauth2 import OAuth2Error
from flask import jsonify, render_template, request
from wtforms import StringField
from wtforms.validators import Length, Optional

from app.devoidc import bp
from app.devoidc.provider import (
    STATE_KEY,
    CodeStore,
    LocalAccount,
    authorization_server,
    make_server,
    metadata_document,
    signing_key,
)
from app.devprovider.forms import ApproveForm as BaseApproveForm
from app.extensions import csrf


@bp.record_once
def set_up(state):
    """Give the app its authorization server and code store."""
    state.app.extensions[STATE_KEY] = {"server": make_server(state.app), "codes": CodeStore()}


class ApproveForm(BaseApproveForm):
    """Who the person is here (their subject) and the profile the provider sends."""

    nickname = StringField("Preferred username sent to the site", validators=[Optional(), Length(max=64)])
    name = StringField("Name sent to the site", validators=[Optional(), Length(max=100)])


def protocol_error(error):
    """Send a protocol error back to the site when its redirect URI is proven, else show it here."""
    if error.redirect_uri:
        return authorization_server().handle_error_response(None, error)
    message = f"The sign-in request is not valid: {error.description or error.error}"
    return render_template("errors/error.html", code=400, title="Bad sign-in request", message=message), 400


def consent_grant():
    """The validated authorization request of this URL (raises OAuth2Error if it is not valid)."""
    return authorization_server().get_consent_grant(end_user=None)


@bp.get("/.well-known/openid-configuration")
def metadata():
    """OpenID Connect discovery document."""
    return jsonify(metadata_document())


@bp.get("/jwks")
def jwks():
    """The public signing key."""
    return jsonify({"keys": [signing_key().as_dict(private=False)]})


@bp.get("/authorize")
def authorize():
    """Check the sign-in request and ask the person to approve it."""
    try:
        grant = consent_grant()
    except OAuth2Error as error:
        return protocol_error(error)
    return render_template("devoidc/approve.html", form=ApproveForm(), grant=grant)


@bp.post("/authorize")
def decide():
    """Send the person's answer back to the site: a code for the approved profile, or access_denied."""
    try:
        grant = consent_grant()
    except OAuth2Error as error:
        return protocol_error(error)
    server = authorization_server()
    if "cancel" in request.form:
        return server.create_authorization_response(grant_user=None, grant=grant)
    form = ApproveForm()
    if not form.validate():
        return render_template("devoidc/approve.html", form=form, grant=grant), 200
    account = LocalAccount(
        form.username.data, form.nickname.data or "", form.name.data or "", form.email.data or ""
    )
    return server.create_authorization_response(grant_user=account, grant=grant)


@bp.post("/token")
@csrf.exempt  # called by the site's server with client authentication, not from a browser form
def token():
    """Exchange a code (with its PKCE verifier) for an ID token."""
    return authorization_server().create_token_response()
