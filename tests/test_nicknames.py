"""Nickname derivation, cleaning and uniqueness."""

import pytest

from app.auth.flow import VerifiedSignIn, create_user
from app.nicknames import choose_nickname, clean_nickname, nickname_from_identifier, unique_nickname
from app.text import clean_email


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("alice", "alice"),
        ("  Alice Smith ", "Alice-Smith"),
        ('"><script>alert(1)</script>', "script-alert-1-script"),
        ("a\x00b\nc", "a-b-c"),
        ("___", ""),
        ("x" * 100, "x" * 64),
        ("élodie", "lodie"),
        (None, ""),
    ],
)
def test_clean_nickname(raw, expected):
    assert clean_nickname(raw) == expected


@pytest.mark.parametrize(
    ("identifier", "expected"),
    [
        ("https://steamcommunity.com/openid/id/76561197960435530", "steam-76561197960435530"),
        ("https://login.ubuntu.com/+id/AbCdE12", "ubuntu-AbCdE12"),
        ("https://www.example.org/people/bob/", "example-bob"),
        ("http://127.0.0.1:5000/dev-openid/carol", "user-carol"),
        ("https://me.example.com/", "me"),
    ],
)
def test_nickname_from_identifier(identifier, expected):
    assert nickname_from_identifier(identifier) == expected


def test_choose_nickname_prefers_provider_then_email_then_identifier():
    steam = "https://steamcommunity.com/openid/id/7656"
    assert choose_nickname("neo", "thomas@example.org", steam) == "neo"
    assert choose_nickname(None, "thomas@example.org", steam) == "thomas"
    assert choose_nickname("", "", steam) == "steam-7656"
    assert choose_nickname("%%%", None, steam) == "steam-7656"


def test_unique_nickname_ignores_letter_case(app):
    with app.app_context():
        create_user(VerifiedSignIn("openid2", "http://op.test/Alice", "Alice"))
        assert unique_nickname("alice") == "alice-2"
        assert unique_nickname("ALICE") == "ALICE-2"


def test_unique_nickname_adds_smallest_free_suffix(app):
    with app.app_context():
        for n in ("bob", "bob-2"):
            create_user(VerifiedSignIn("openid2", f"http://op.test/{n}", n))
        assert unique_nickname("bob") == "bob-3"
        assert unique_nickname("bobby") == "bobby"
        long_name = "y" * 64
        create_user(VerifiedSignIn("openid2", "http://op.test/long", long_name))
        candidate = unique_nickname(long_name)
        assert candidate == "y" * 62 + "-2" and len(candidate) == 64


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("a@example.org", "a@example.org"),
        (" a@example.org ", "a@example.org"),
        ("not-an-email", None),
        ("a@b@c", None),
        ("a@exa mple.org", None),
        ("x" * 250 + "@e.org", None),
        (None, None),
    ],
)
def test_clean_email(raw, expected):
    assert clean_email(raw) == expected
