"""Validation of what a visitor types on the login form."""

import pytest

from app.auth.forms import IdentifierError, identifier_from_provider, normalise_identifier


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("example.com", "http://example.com/"),
        ("  https://Example.COM/me  ", "https://example.com/me"),
        ("http://example.com:8000/x#frag", "http://example.com:8000/x"),
        ("https://steamcommunity.com/openid", "https://steamcommunity.com/openid"),
        ("example.com:8080/me", "http://example.com:8080/me"),
    ],
)
def test_identifiers_are_normalised_like_python3_openid(raw, expected):
    assert normalise_identifier(raw) == expected


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ("", "Please enter your OpenID"),
        ("   ", "Please enter your OpenID"),
        ("https://example.com/" + "a" * 300, "too long"),
        ("ftp://example.com/", "http or https"),
        ("javascript:alert(1)", "http or https"),
        ("data:text/html,x", "http or https"),
        ("mailto:a@example.org", "http or https"),
        ("=example", "XRI"),
        ("xri://=example", "XRI"),
        ("http://exa mple.com", "characters"),
        ("http://example.com/\x00", "characters"),
        ("http://[bad", "valid OpenID"),
    ],
)
def test_bad_identifiers_get_a_plain_message(raw, message):
    with pytest.raises(IdentifierError, match=message):
        normalise_identifier(raw)


def test_provider_template_asks_for_a_clean_username():
    template = "http://op.test/<username>"
    assert identifier_from_provider(template, "bob") == "http://op.test/bob"
    assert (
        identifier_from_provider("https://steamcommunity.com/openid", None)
        == "https://steamcommunity.com/openid"
    )
    for bad in ("", "a/b", "a b", "x" * 65, "../etc"):
        with pytest.raises(IdentifierError):
            identifier_from_provider(template, bad)
