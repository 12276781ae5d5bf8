"""Reading and writing posts."""

from flask import current_app
from sqlalchemy import select
from sqlalchemy.orm import joinedload

from app.extensions import db
from app.models import Post


def newest_first(query):
    """Order a post query newest first, ties broken by id."""
    return query.order_by(Post.timestamp.desc(), Post.id.desc())


def paginate_posts(query, page):
    """One page of a post query, authors loaded in the same query."""
    query = newest_first(query.options(joinedload(Post.author)))
    return db.paginate(query, page=page, per_page=current_app.config["POSTS_PER_PAGE"], error_out=False)


def latest_posts(page):
    """One page of everyone's posts, newest first."""
    return paginate_posts(select(Post), page)


def posts_by(user, page):
    """One page of a user's posts, newest first."""
    return paginate_posts(select(Post).where(Post.user_id == user.id), page)


def publish_post(author, body):
    """Save a post (already checked by PostForm) and return it."""
    post = Post(body=body, author=author)
    db.session.add(post)
    db.session.commit()
    return post
