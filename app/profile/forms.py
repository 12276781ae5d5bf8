"""The owner's profile form: nickname and email, re-checked for uniqueness."""

from flask_login import current_user
from flask_wtf import FlaskForm
from wtforms import StringField
from wtforms.validators import ValidationError

from app.nicknames import nickname_problem
from app.text import EMAIL_MAX, clean_email


def strip(value: object) -> object:
    """Surrounding blanks are never meant."""
    return value.strip() if isinstance(value, str) else value


class ProfileForm(FlaskForm):
    """Edit the signed-in user's nickname and email."""

    nickname = StringField(
        "Nickname",
        filters=[strip],
        description="Letters, digits, '_', '.' or '-'. Your profile address changes with it.",
    )
    email = StringField("Email (optional)", filters=[strip], description="Only you can see it.")

    def validate_nickname(self, field: StringField) -> None:
        problem = nickname_problem(field.data, except_user_id=current_user.id)
        if problem:
            raise ValidationError(problem)

    def validate_email(self, field: StringField) -> None:
        if not field.data:
            return
        if len(field.data) > EMAIL_MAX or clean_email(field.data) is None:
            raise ValidationError("That does not look like an email address (name@example.org).")
        # No uniqueness check: email is unverified profile data that never identifies an account,
        # and "already used" would tell anyone which addresses other members have.
