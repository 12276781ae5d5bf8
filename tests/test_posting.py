"""Posting from the home page: 1 to 140 characters, refused ones keep the text, newest first, escaped."""

import re
import zlib
from datetime import UTC, datetime, timedelta
from html import unescape

import pytest
from sqlalchemy import select

from app.extensions import csrf, db
from app.models import Post, User
from tests.support.web import csrf_token, flashes


def bodies(app):
    with app.app_context():
        return [p.body for p in db.session.scalars(select(Post).order_by(Post.id))]


def post(client, body):
    token = csrf_token(client.get("/").text)
    return client.post("/", data={"csrf_token": token, "body": body})


def shown_bodies(html):
    return [unescape(b) for b in re.findall(r'<p class="post-body"[^>]*>(.*?)</p>', html, re.S)]


def textarea_text(html):
    start = html.index("<textarea")
    start = html.index(">", start) + 1
    return unescape(html[start : html.index("</textarea>", start)]).removeprefix("\r\n")


def test_signed_in_user_posts_and_sees_it(app, client, auth):
    auth.login("alice")
    answer = post(client, "Hello, world!")
    assert answer.status_code == 302 and answer.headers["Location"] == "/"
    page = client.get("/")
    assert ("success", "Your post is live!") in flashes(page.text)
    assert "Hello, world!" in page.text
    assert bodies(app) == ["Hello, world!"]


def test_posting_via_index_path_works_too(app, client, auth):
    auth.login("alice")
    token = csrf_token(client.get("/index").text)
    assert client.post("/index", data={"csrf_token": token, "body": "hi"}).status_code == 302
    assert bodies(app) == ["hi"]


@pytest.mark.parametrize("body", ["", "   ", "\r\n\t "])
def test_empty_post_is_refused_with_a_message(app, client, auth, body):
    auth.login("alice")
    page = post(client, body)
    assert page.status_code == 200
    assert "Your post is empty. Write something first." in page.text
    assert 'aria-invalid="true"' in page.text
    assert bodies(app) == []


def test_too_long_post_is_refused_and_the_text_is_kept(app, client, auth):
    auth.login("alice")
    typed = "x" * 100 + " <b>&amp; more</b> " + "y" * 30
    page = post(client, typed)
    assert page.status_code == 200
    assert f"Your post is {len(typed)} characters long; the limit is 140. Please shorten it." in page.text
    assert textarea_text(page.text) == typed.strip()
    assert "<b>&amp; more</b>" not in page.text  # kept, but escaped
    assert bodies(app) == []


def test_exactly_140_characters_is_fine_and_counts_code_points(app, client, auth):
    auth.login("alice")
    assert post(client, "é" * 139 + "😀").status_code == 302
    assert post(client, "😀" * 141).status_code == 200
    assert bodies(app) == ["é" * 139 + "😀"]


def test_newlines_count_once_and_edges_are_trimmed(app, client, auth):
    auth.login("alice")
    body = "line\r\n" * 23 + "abcd"  # 23 * 5 + 4 = 119 characters once CRLF becomes LF
    assert post(client, "  " + body + "\r\n").status_code == 302
    assert bodies(app) == [body.replace("\r\n", "\n")]


def test_posts_are_newest_first(app, client, auth):
    user = auth.login("alice")
    now = datetime.now(UTC)
    with app.app_context():
        author = db.session.get(User, user.id)
        for minutes, body in ((30, "older"), (5, "newest"), (60, "oldest")):
            db.session.add(Post(body=body, author=author, timestamp=now - timedelta(minutes=minutes)))
        db.session.commit()
    assert shown_bodies(client.get("/").text) == ["newest", "older", "oldest"]


def test_new_post_goes_on_top(app, client, auth):
    auth.login("alice")
    post(client, "first")
    post(client, "second")
    assert shown_bodies(client.get("/").text) == ["second", "first"]


def test_post_output_is_escaped(app, client, auth):
    auth.login("alice")
    post(client, '<script>alert("x")</script>')
    page = client.get("/").text
    assert '<script>alert("x")</script>' not in page
    assert "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;" in page


def test_post_without_csrf_token_is_refused(app, client, auth):
    auth.login("alice")
    answer = client.post("/", data={"body": "sneaky"})
    assert answer.status_code == 400
    assert bodies(app) == []


def test_anonymous_post_goes_to_login(app, client):
    # A valid CSRF token (from the login page) gets past CSRFProtect: sign-in must stop it.
    token = csrf_token(client.get("/login").get_data(as_text=True))
    answer = client.post("/", data={"body": "hi", "csrf_token": token})
    assert answer.status_code == 302 and "/login" in answer.headers["Location"]
    assert bodies(app) == []


def test_home_page_offers_the_labelled_form(client, auth):
    auth.login("alice")
    page = client.get("/").text
    assert '<label for="body"' in page
    assert 'name="body"' in page and 'id="post-submit"' in page
    assert "No posts yet" in page


def test_posts_link_to_their_author(client, auth):
    auth.login("alice")
    post(client, "hello")
    assert 'href="/user/alice"' in client.get("/").text


def wtforms_post_box(app, form_data):
    """The CSRF input and the textarea as WTForms' widgets write them for this request (the reference)."""
    from app.main.forms import PostForm

    method = "GET" if form_data is None else "POST"
    with app.test_request_context("/", method=method, data=form_data):
        form = PostForm(meta={"csrf": False})
        if form_data is not None:
            form.validate()
        refused = bool(form.body.errors)
        attrs = {
            "data-limit": 140,
            "aria-describedby": "body-count body-error" if refused else "body-count",
            "aria-invalid": "true" if refused else "false",
        }
        textarea = form.body(
            id="body", rows=3, placeholder="Say something in 140 characters or fewer", **attrs
        )
        return str(textarea), form.body.errors


@pytest.mark.parametrize("typed", [None, "", "  ", "x" * 141 + " <b>\"&'</b>\r\n", "a\x01b", "line\r\n" * 30])
def test_the_post_box_is_what_wtforms_widgets_wrote(app, client, auth, typed):
    """The post box is plain markup, byte for byte what the WTForms widgets made, in every state."""
    auth.login()
    page = client.get("/").text
    token = csrf_token(page)
    if typed is not None:
        page = client.post("/", data={"csrf_token": token, "body": typed}).text
    textarea, errors = wtforms_post_box(app, None if typed is None else {"body": typed})
    box = page[page.index('<form method="post" action="/" id="post-form"') :]
    # The token is signed afresh with the time on each page, so its place and form are compared.
    hidden = r'[^>]*novalidate>\n    <input id="csrf_token" name="csrf_token" type="hidden" value="[^"]+">\n'
    assert re.match(hidden, box)
    assert box[box.index("<textarea") : box.index("</textarea>") + len("</textarea>")] == textarea
    assert ('<p class="field-error" id="body-error" role="alert">' in box) == bool(errors)


def test_csrf_checks_every_state_change_and_reads_no_exemptions_for_a_page_view(
    app, client, auth, monkeypatch
):
    """The CSRF hook leaves a GET at once (app.extensions.SafeMethodsCSRF); POST, PUT, PATCH and DELETE
    are checked as before, exempt views still exempt."""
    auth.login("alice")
    looked_up = []
    real = type(csrf)._is_exempt
    monkeypatch.setattr(type(csrf), "_is_exempt", lambda self: looked_up.append(1) or real(self))
    assert client.get("/").status_code == 200 and looked_up == []
    for method in ("POST", "PUT", "PATCH", "DELETE"):
        assert client.open("/", method=method, data={"body": "sneaky"}).status_code in (400, 405)
    assert looked_up == [1] and bodies(app) == []  # the POST (the others are not routes of "/")
    # The OpenID 2.0 callback is exempt (its answer is signed): a POST reaches it without a token.
    answer = client.post("/login/openid/complete", data={"openid.mode": "cancel"})
    assert answer.status_code == 302


def test_the_pages_csrf_token_is_flask_wtfs_token_and_flask_wtf_accepts_it(app, monkeypatch):
    """app.csrf_tokens signs without the zlib attempt: the same token Flask-WTF makes (a 40-hex-digit
    payload never compresses), one per request, shared with Flask-WTF's forms, checked by Flask-WTF."""
    from flask import g, render_template_string
    from flask_wtf.csrf import generate_csrf, validate_csrf
    from itsdangerous.timed import TimestampSigner
    from wtforms.validators import ValidationError

    monkeypatch.setattr(TimestampSigner, "get_timestamp", lambda self: 1_800_000_000)  # one second
    compressed = []
    compress = zlib.compress
    monkeypatch.setattr(
        zlib, "compress", lambda data, *args: compressed.append(data) or compress(data, *args)
    )
    with app.test_request_context():
        ours = render_template_string("{{ csrf_token() }}")
        assert compressed == []  # no zlib attempt for the page's token
        assert render_template_string("{{ csrf_token() }}") == ours  # once per request
        assert generate_csrf() == ours  # Flask-WTF's forms get the same one
        del g.csrf_token
        assert generate_csrf() == ours  # and Flask-WTF, signing afresh, makes exactly this token
        validate_csrf(ours)  # which it accepts (every post in these tests sends the page's token)
        with pytest.raises(ValidationError):
            validate_csrf(ours[:-1] + ("A" if ours[-1] != "A" else "B"))  # a forged signature: no
