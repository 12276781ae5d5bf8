"""The local providers' pages as a person reads them: distinct marks, plain wording, a filled-in form."""

import re

from tests.support.web import LOCAL_PROVIDER_INDEX, csrf_token
from tests.test_oidc_local_provider import authorize_url
from tests.test_oidc_local_provider import client as client  # noqa: F401 - the mounted test client fixture

ICON = re.compile(
    r'<span class="provider-icon[^"]*" aria-hidden="true">([^<]*)</span><span class="provider-name">([^<]*)'
)
BRAND_MARK = re.compile(r'<span class="brand-mark" aria-hidden="true">([^<]*)</span><span>([^<]*)</span>')


def test_the_two_local_providers_have_different_marks_on_the_login_page(browser):
    icons = dict((name, letter) for letter, name in ICON.findall(browser.get("/login").text))
    assert icons["Local test provider"] == "L"
    assert icons["Sign in with Local test provider (OpenID Connect)"] == "C"


def test_the_openid2_approval_page_names_the_site_by_its_address(browser, live_server):
    approval = browser.start_sign_in(provider=LOCAL_PROVIDER_INDEX, username="amy")
    html = approval.text
    address = live_server.url.removeprefix("http://")
    assert "<h1>Approve sign-in</h1>" in html
    assert f"The site at <strong>{address}</strong> asks who you are." in html
    assert "Sign in to http" not in html and "/?" not in html.split("<h1>")[1].split("</h1>")[0]
    assert BRAND_MARK.search(html).groups() == ("L", "Local test provider")


def test_the_oidc_approval_page_starts_filled_in_and_says_nickname(client):
    html = client.get(authorize_url()).get_data(as_text=True)
    assert "<h1>Approve sign-in</h1>" in html
    assert "The site at <strong>localhost</strong> asks who you are." in html
    assert "Sign in to http" not in html
    assert "Preferred username" not in html
    assert '<label for="nickname">Nickname sent to the site</label>' in html
    for field, value in (
        ("username", "oidc-user"),
        ("nickname", "oidc-user"),
        ("email", "oidc-user@example.test"),
    ):
        assert re.search(rf'<input[^>]*name="{field}"[^>]*value="{re.escape(value)}"', html), field
    assert BRAND_MARK.search(html).groups() == ("C", "Local test provider (OpenID Connect)")


def test_a_refused_oidc_approval_keeps_the_address_wording(client):
    url = authorize_url()
    token = csrf_token(client.get(url).get_data(as_text=True))
    answer = client.post(url, data={"csrf_token": token, "username": "bad name", "approve": "1"})
    html = answer.get_data(as_text=True)
    assert answer.status_code == 200 and "The site at <strong>localhost</strong> asks who you are." in html
