"""Front page: everyone's latest posts; signed-in visitors also get the form to write one."""

from flask import current_app, flash, g, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from flask_login import current_user, login_required

from app.extensions import limiter
from app.main import bp
from app.main.forms import EMPTY_POST_BOX, PostBox, PostForm
from app.main.fragments import ServedList, post_list, requested_list
from app.main.posts import publish_post
from app.models import POST_MAX, utcnow
from app.pagination import PageRequest


def render_index(post_box: PostBox | None, posts: ServedList) -> str:
    """The front page: a page of posts, with the post box (as typed) for a signed-in visitor."""
    return render_template("main/index.html", user=g.user, post_box=post_box, posts=posts, post_max=POST_MAX)


@bp.get("/index")
@bp.get("/")
def index() -> ResponseReturnValue:
    """Everyone's latest posts; a welcome for visitors, the post form for signed-in users."""
    posts = requested_list("main.index")
    if not isinstance(posts, ServedList):
        return posts  # an old ?page=N link, sent on to its new address
    return render_index(EMPTY_POST_BOX if current_user.is_authenticated else None, posts)


def post_rate_limit() -> str:
    """The configured limit on posts per signed-in user."""
    return current_app.config["POST_RATE_LIMIT"]


def poster_key() -> str:
    """Count posts per user (per address for anyone not signed in, who cannot post anyway)."""
    if current_user.is_authenticated:
        return f"user:{current_user.id}"
    return f"addr:{request.remote_addr}"


@bp.post("/index")
@bp.post("/")
@login_required
@limiter.limit(post_rate_limit, key_func=poster_key)
def publish() -> ResponseReturnValue:
    """Publish a post; a refused one comes back with its message and the text typed."""
    form = PostForm()
    if not form.validate():
        return render_index(PostBox.of(form), post_list(PageRequest(), "main.index").served(utcnow()))
    assert form.body.data is not None  # validate_body refused a missing or empty post
    publish_post(current_user.id, form.body.data)
    flash("Your post is live!", "success")
    return redirect(url_for("main.index"))
