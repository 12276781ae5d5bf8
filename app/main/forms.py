"""The form for writing a post."""

from typing import NamedTuple

from flask_wtf import FlaskForm
from wtforms import TextAreaField
from wtforms.validators import ValidationError

from app.models import POST_MAX
from app.text import has_control_characters


def normalise_post(value: object) -> object:
    """One newline style and no blank edges, so the length counted is the length stored."""
    if not isinstance(value, str):
        return value
    return value.replace("\r\n", "\n").replace("\r", "\n").strip()


class PostForm(FlaskForm):
    """A post of 1 to POST_MAX characters."""

    body = TextAreaField("What’s on your mind?", filters=[normalise_post])

    def validate_body(self, field: TextAreaField) -> None:
        if not field.data:
            raise ValidationError("Your post is empty. Write something first.")
        if has_control_characters(field.data, allow="\n\t"):
            raise ValidationError("Your post contains invisible control characters. Please remove them.")
        if len(field.data) > POST_MAX:
            raise ValidationError(
                f"Your post is {len(field.data)} characters long; the limit is {POST_MAX}. Please shorten it."
            )


class PostBox(NamedTuple):
    """What the post box on the front page shows: the text as typed, and why it was refused."""

    text: str = ""
    errors: tuple[str, ...] = ()

    @classmethod
    def of(cls, form: PostForm) -> "PostBox":
        """The box after a refused post: the (normalised) text and the form's messages."""
        return cls(form.body.data or "", tuple(form.body.errors))


EMPTY_POST_BOX = PostBox()  # a GET needs no form object: CSRFProtect checks the token of the POST
