"""Nickname checks for people's choices: valid, free (ignoring case), and suggestions that are free."""

from app.extensions import db
from app.models import User
from app.nicknames import nickname_problem, nickname_taken, unique_nickname


def add(app, *names):
    with app.app_context():
        db.session.add_all(User(nickname=name) for name in names)
        db.session.commit()


def test_nickname_problem_messages(app):
    add(app, "alice")
    with app.app_context():
        assert nickname_problem("") == "Please choose a nickname."
        assert "too long" in nickname_problem("a" * 65)
        assert "Use letters" in nickname_problem("-lead")
        assert "Use letters" in nickname_problem("has space")
        assert "Use letters" in nickname_problem("ünï")
        assert "is taken" in nickname_problem("ALICE")
        assert nickname_problem("alice-2") is None
        assert nickname_problem("a" * 64) is None


def test_own_nickname_is_not_taken_by_oneself(app):
    add(app, "alice")
    with app.app_context():
        alice = db.session.scalars(db.select(User)).one()
        assert nickname_taken("Alice")
        assert not nickname_taken("Alice", except_user_id=alice.id)


def test_unique_nickname_ignores_case(app):
    add(app, "Bob", "bob-2")
    with app.app_context():
        assert unique_nickname("bob") == "bob-3"
        assert unique_nickname("carol") == "carol"


def test_the_database_refuses_nicknames_differing_only_in_case(app):
    """Two sign-ins racing past the app's check cannot both keep 'Alice' and 'alice'."""
    import pytest
    from sqlalchemy.exc import IntegrityError

    from app.extensions import db
    from app.models import User

    with app.app_context():
        db.session.add(User(nickname="Alice"))
        db.session.commit()
        db.session.add(User(nickname="alice"))
        with pytest.raises(IntegrityError):
            db.session.commit()
        db.session.rollback()
