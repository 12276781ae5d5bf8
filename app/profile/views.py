"""Profile views: /user/<nickname> for everyone, /profile/edit for the owner."""

from flask import flash, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from flask_login import current_user, login_required

from app.auth.devices import current_device
from app.auth.history import NICKNAME_CHANGED, record_event
from app.main.fragments import ServedList, requested_list
from app.pagination import page_arguments
from app.profile import bp
from app.profile.forms import ProfileForm
from app.profile.profiles import ProfileConflictError, find_profile, identity_labels, update_profile


def no_such_profile(nickname: str) -> tuple[str, int]:
    """A 404 page that says which profile is missing, rather than the generic one."""
    message = (
        f"No one on Microblog is called “{nickname}”. They may have changed their nickname, "
        "or the link may have a typo."
    )
    return render_template("errors/error.html", code=404, title="No such profile", message=message), 404


@bp.get("/user/<nickname>")
def user(nickname: str) -> ResponseReturnValue:
    """A user's posts, sign-in providers and join date; readable without signing in."""
    profile = find_profile(nickname)
    if profile is None:
        return no_such_profile(nickname)
    if profile.nickname != nickname:
        return redirect(
            url_for("profile.user", nickname=profile.nickname, **page_arguments(request.args)), 301
        )
    posts = requested_list("profile.user", author_id=profile.id, nickname=profile.nickname)
    if not isinstance(posts, ServedList):
        return posts  # an old ?page=N link, sent on to its new address
    is_owner = current_user.is_authenticated and current_user.id == profile.id
    return render_template(
        "profile/user.html",
        profile=profile,
        posts=posts,
        post_count=profile.post_count,
        identity_labels=identity_labels(profile),
        is_owner=is_owner,
    )


def note_nickname_change(old: str, new: str) -> None:
    """Put a nickname change in the owner's security history."""
    if old != new:
        device = current_device()
        record_event(current_user.id, NICKNAME_CHANGED, f"{old} → {new}", device.user_agent if device else "")


@bp.route("/profile/edit", methods=["GET", "POST"])
@login_required
def edit() -> ResponseReturnValue:
    """Let the signed-in user change their nickname and email."""
    form = ProfileForm(obj=current_user) if request.method == "GET" else ProfileForm()
    if request.method == "POST" and form.validate():
        assert form.nickname.data is not None  # validate() refused a missing or empty nickname
        try:
            # A client that leaves the email field out keeps the email; an empty field removes it.
            email = form.email.data if "email" in request.form else current_user.email
            user = current_user.record()
            old_nickname = user.nickname
            update_profile(user, form.nickname.data, email)
        except ProfileConflictError:
            # The stubs say Sequence: errors is a tuple before validation and a list after it.
            form.nickname.errors.append("Someone took that nickname a moment ago. Please choose another.")  # type: ignore[attr-defined]
        else:
            note_nickname_change(old_nickname, user.nickname)
            flash("Your profile is saved.", "success")
            return redirect(url_for("profile.user", nickname=user.nickname))
    return render_template("profile/edit.html", form=form)
