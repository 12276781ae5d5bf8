"""The signed-in user a request sees: a plain copy of the user and device rows, read in one query."""

from flask_login import current_user

from app.auth.devices import DEVICE_FIELDS, USER_FIELDS, SignedInDevice, SignedInUser
from app.extensions import db
from app.models import User, UserSession


def test_the_plain_copies_hold_every_column_of_their_rows():
    # A column added to the model and not to the copy would be missing on every page view.
    assert set(USER_FIELDS) == set(User.__table__.c.keys())
    assert set(DEVICE_FIELDS) == set(UserSession.__table__.c.keys())


def test_a_page_view_sees_the_users_and_devices_stored_values(app, client, auth):
    auth.login("plain")
    with app.app_context():
        user = db.session.scalars(db.select(User).filter_by(nickname="plain")).one()
        device = db.session.scalars(db.select(UserSession).filter_by(user_id=user.id)).one()
        stored_user = {name: getattr(user, name) for name in USER_FIELDS}
        stored_device = {name: getattr(device, name) for name in DEVICE_FIELDS}
    with client:
        client.get("/")
        seen = current_user._get_current_object()
        assert isinstance(seen, SignedInUser)
        assert isinstance(seen.device, SignedInDevice)
        assert {name: getattr(seen, name) for name in USER_FIELDS} == stored_user
        assert {name: getattr(seen.device, name) for name in DEVICE_FIELDS} == stored_device
        assert seen.get_id() == stored_device["session_token"]


def test_record_is_the_orm_user_to_change(app, client, auth):
    auth.login("plain")
    with client:
        client.get("/")
        record = current_user.record()
        assert isinstance(record, User)
        assert record.id == current_user.id
        record.email = "changed@example.org"
        db.session.commit()
    with app.app_context():
        stored = db.session.scalars(db.select(User.email).filter_by(nickname="plain")).one()
    assert stored == "changed@example.org"


def test_g_user_follows_a_sign_in_and_a_sign_out_within_one_request(app, auth):
    from flask import g
    from flask_login import login_user, logout_user

    auth.login("plain")
    with app.test_request_context():
        app.preprocess_request()
        assert not g.user.is_authenticated
        user = db.session.scalars(db.select(User).filter_by(nickname="plain")).one()
        login_user(user)
        assert g.user is user
        logout_user()
        assert not g.user.is_authenticated
