"""Home page with the latest posts."""

from flask import current_app, render_template, request
from flask_login import current_user, login_required
from sqlalchemy import select
from sqlalchemy.orm import joinedload

from app.main import bp
from app.models import Post
from app.pagination import paginate


def latest_posts(page):
    """One page of posts, newest first, authors loaded in the same query (no COUNT: see app.pagination)."""
    query = select(Post).options(joinedload(Post.author)).order_by(Post.timestamp.desc(), Post.id.desc())
    return paginate(query, page, current_app.config["POSTS_PER_PAGE"])


@bp.get("/index")
@bp.get("/")
@login_required
def index():
    """Greet the signed-in user and show the latest posts."""
    page = request.args.get("page", 1, type=int)
    return render_template("main/index.html", user=current_user, posts=latest_posts(page))
