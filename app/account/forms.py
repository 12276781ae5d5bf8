"""The account deletion form: the person types their nickname to confirm."""

from flask_login import current_user
from flask_wtf import FlaskForm
from wtforms import StringField
from wtforms.validators import ValidationError


class DeleteAccountForm(FlaskForm):
    """Delete the signed-in account; the nickname must be typed exactly."""

    nickname = StringField("Type your nickname to confirm", description="This cannot be undone.")

    def validate_nickname(self, field: StringField) -> None:
        if (field.data or "").strip() != current_user.nickname:
            raise ValidationError("That is not your nickname. Nothing was deleted.")
