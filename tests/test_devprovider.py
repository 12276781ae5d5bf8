"""The local OpenID 2.0 test provider, as a person uses it."""

from tests.support.web import flashes


def test_directed_identity_lets_the_person_pick_the_account(browser, live_server):
    approval = browser.start_sign_in(live_server.url + "/dev-openid/")
    assert "/dev-openid/approve" in approval.url
    username_input = approval.text.split('name="username"')[1][:80]
    assert "readonly" not in username_input
    page = browser.decide(approval, username="zoe", nickname="Zoe", email="")
    assert "Hi, Zoe!" in page.text


def test_invalid_answers_are_shown_inline_and_kept(browser):
    approval = browser.start_sign_in(provider=2, username="yan")
    page = browser.decide(approval, email="not-an-email", nickname="yan")
    assert page.status_code == 200 and "/dev-openid/approve" in page.url
    assert "That is not an email address." in page.text
    assert 'value="not-an-email"' in page.text


def test_approval_page_without_a_pending_request_explains_itself(browser):
    page = browser.get("/dev-openid/approve")
    assert page.status_code == 200
    assert ("info", "There is no sign-in waiting for approval.") in flashes(page.text)


def test_identity_page_advertises_the_endpoint(browser, live_server):
    page = browser.get("/dev-openid/alice")
    assert f'<link rel="openid2.provider" href="{live_server.url}/dev-openid/endpoint">' in page.text
    assert browser.get("/dev-openid/bad%20name").status_code == 404


def test_endpoint_answers_protocol_errors_without_a_500(browser):
    page = browser.get("/dev-openid/endpoint?openid.mode=bogus&openid.ns=http://specs.openid.net/auth/2.0")
    assert page.status_code < 500


def test_a_request_with_nowhere_to_answer_gets_a_plain_400(browser):
    page = browser.get("/dev-openid/endpoint?openid.mode=checkid_setup")
    assert page.status_code == 400
    assert "Traceback" not in page.text and "return_to" in page.text
