"""The approval form shared by both local test providers (OpenID 2.0 and OpenID Connect)."""

from flask_wtf import FlaskForm
from wtforms import StringField
from wtforms.validators import DataRequired, Length, Optional, Regexp, ValidationError

from app.text import clean_email

NAME_RULE = r"^[A-Za-z0-9_.-]{1,64}$"


class ApproveForm(FlaskForm):
    """What the person confirms: who they are and what the provider tells the site."""

    username = StringField(
        "Username",
        validators=[
            DataRequired(),
            Length(max=64),
            Regexp(NAME_RULE, message="Use letters, digits, '_', '.' or '-'."),
        ],
    )
    nickname = StringField("Nickname sent to the site", validators=[Optional(), Length(max=64)])
    email = StringField("Email sent to the site", validators=[Optional(), Length(max=254)])

    def validate_email(self, field: StringField) -> None:
        if field.data and clean_email(field.data) is None:
            raise ValidationError("That is not an email address.")
