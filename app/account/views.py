"""Account views: /account and its actions; POSTs with CSRF, sensitive ones need a recent sign-in."""

import json

from flask import Response as FlaskResponse
from flask import flash, redirect, render_template, request, session, url_for
from flask_login import current_user, login_required, logout_user
from werkzeug.wrappers import Response

from app.account import bp
from app.account.accounts import (
    count_identities,
    delete_account,
    export_data,
    find_identity,
    methods_of,
    remove_identity,
)
from app.account.forms import DeleteAccountForm
from app.auth.devices import (
    active_devices,
    current_device,
    end_device_session,
    end_other_sessions,
    find_device,
    recently_authenticated,
)
from app.auth.history import DEVICE_SIGNED_OUT, METHOD_REMOVED, event_label, recent_events, record_event
from app.auth.intent import ask_to_confirm
from app.auth.session import end_user_session
from app.providers import identity_label, oidc_providers, openid2_providers
from app.redirects import safe_next

Page = Response | str | tuple[str, int]


def this_device_label() -> str:
    """The description of the browser making this request, for the history."""
    device = current_device()
    return device.user_agent if device is not None else ""


@bp.get("")
@login_required
def index() -> Page:
    """The account page: methods, add a method, devices, security history, export and delete."""
    user_id = current_user.id
    return render_template(
        "account/index.html",
        methods=methods_of(user_id),
        devices=active_devices(user_id),
        this_device=current_device(),
        events=recent_events(user_id),
        event_label=event_label,
        providers=openid2_providers(),
        oidc_providers=oidc_providers(),
        recent=recently_authenticated(),
    )


@bp.get("/confirm")
@login_required
def confirm() -> Page:
    """ "Confirm it's you": sign in again with one of this account's methods, then go back."""
    next_url = safe_next(request.args.get("next")) or url_for("account.index")
    return render_template("account/confirm.html", methods=methods_of(current_user.id), next_url=next_url)


@bp.post("/methods/<int:identity_id>/remove")
@login_required
def remove_method(identity_id: int) -> Response:
    """Unlink one sign-in method; never the last one."""
    if not recently_authenticated():
        return ask_to_confirm(url_for("account.index"))
    identity = find_identity(current_user.id, identity_id)
    if identity is None:
        flash("That sign-in method is not linked to your account.", "error")
    elif count_identities(current_user.id) <= 1:
        flash("This is your only sign-in method, so it cannot be removed. Add another one first.", "error")
    else:
        label = identity_label(identity.issuer, identity.subject)
        remove_identity(identity)
        record_event(current_user.id, METHOD_REMOVED, label, this_device_label())
        flash(f"{label} was removed: it no longer signs in to this account.", "success")
    return redirect(url_for("account.index"))


@bp.post("/devices/<int:device_id>/sign-out")
@login_required
def sign_out_device(device_id: int) -> Response:
    """Sign out one device (this one too, if chosen)."""
    if not recently_authenticated():
        return ask_to_confirm(url_for("account.index"))
    device = find_device(current_user.id, device_id)
    if device is None:
        flash("That device is already signed out.", "info")
        return redirect(url_for("account.index"))
    this = current_device()
    record_event(current_user.id, DEVICE_SIGNED_OUT, device.user_agent, this_device_label())
    if this is not None and device.id == this.id:
        end_user_session(record=False)
        flash("You have been signed out.", "info")
        return redirect(url_for("auth.login"))
    end_device_session(device)
    flash(f"{device.user_agent} was signed out.", "success")
    return redirect(url_for("account.index"))


@bp.post("/devices/sign-out-others")
@login_required
def sign_out_other_devices() -> Response:
    """Sign out every device but this one."""
    if not recently_authenticated():
        return ask_to_confirm(url_for("account.index"))
    this = current_device()
    if this is None:
        return redirect(url_for("auth.login"))
    ended = end_other_sessions(current_user.id, this)
    record_event(current_user.id, DEVICE_SIGNED_OUT, f"All other devices ({ended})", this.user_agent)
    flash(f"Signed out {ended} other device{'s' if ended != 1 else ''}.", "success")
    return redirect(url_for("account.index"))


@bp.get("/export")
@login_required
def export() -> Response:
    """Download everything the site keeps about you, as JSON."""
    data = export_data(current_user.record())
    body = json.dumps(data, indent=2, ensure_ascii=False)
    filename = f"microblog-{current_user.nickname}.json"
    return FlaskResponse(
        body,
        mimetype="application/json",
        headers={"Content-Disposition": f'attachment; filename="{filename}"', "Cache-Control": "no-store"},
    )


@bp.get("/delete")
@login_required
def delete_page() -> Page:
    """The account deletion form."""
    return render_template("account/delete.html", form=DeleteAccountForm(), recent=recently_authenticated())


@bp.post("/delete")
@login_required
def delete() -> Page:
    """Delete the account and everything in it, after a recent sign-in and the typed nickname."""
    if not recently_authenticated():
        return ask_to_confirm(url_for("account.delete_page"))
    form = DeleteAccountForm()
    if not form.validate():
        return render_template("account/delete.html", form=form, recent=True), 400
    delete_account(current_user.id)
    session.clear()
    logout_user()
    flash("Your account and everything in it were deleted. Every device was signed out.", "info")
    return redirect(url_for("auth.login"))
