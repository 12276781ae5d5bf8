"""Reading and writing posts."""

from flask import current_app
from sqlalchemy import Select, select
from sqlalchemy.orm import joinedload

from app.extensions import db
from app.models import Post, User
from app.pagination import Page, paginate


def newest_first(query: Select[Post]) -> Select[Post]:
    """Order a post query newest first, ties broken by id."""
    return query.order_by(Post.timestamp.desc(), Post.id.desc())


def paginate_posts(query: Select[Post], page: int | None, count: bool = False) -> Page:
    """One page of a post query (authors loaded by the query itself); the total only if asked."""
    return paginate(newest_first(query), page, current_app.config["POSTS_PER_PAGE"], count=count)


def visible_posts() -> Select[Post]:
    """Posts whose authors are not suspended (a short, indexed list), with their authors joined in.

    A filter rather than a join on the suspension, so the newest posts still come straight
    from the timestamp index.
    """
    suspended = select(User.id).where(User.suspended_at.is_not(None))
    return select(Post).where(Post.user_id.not_in(suspended)).options(joinedload(Post.author))


def latest_posts(page: int | None) -> Page:
    """One page of everyone's posts (suspended accounts' hidden), newest first."""
    return paginate_posts(visible_posts(), page)


def posts_by(user: User, page: int | None) -> Page:
    """One page of a user's posts, newest first."""
    query = select(Post).where(Post.user_id == user.id).options(joinedload(Post.author))
    return paginate_posts(query, page, count=True)


def publish_post(author: User, body: str) -> Post:
    """Save a post (already checked by PostForm) and return it."""
    post = Post(body=body, author=author)
    db.session.add(post)
    db.session.commit()
    return post
