"""The look and feel rules that can be checked without a browser: offline, one stylesheet, contrast."""

import re
from pathlib import Path

import pytest

APP = Path(__file__).resolve().parent.parent / "app"
CSS = (APP / "static" / "style.css").read_text()
TEMPLATES = {path.name: path.read_text() for path in (APP / "templates").rglob("*.html")}


def colour(name):
    match = re.search(rf"--{name}:\s*(#[0-9a-fA-F]{{6}})", CSS)
    assert match, f"--{name} is not a #rrggbb colour in style.css"
    return match.group(1)


def luminance(hex_colour):
    channels = [int(hex_colour[i : i + 2], 16) / 255 for i in (1, 3, 5)]
    linear = [c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4 for c in channels]
    return 0.2126 * linear[0] + 0.7152 * linear[1] + 0.0722 * linear[2]


def contrast(a, b):
    high, low = sorted((luminance(a), luminance(b)), reverse=True)
    return (high + 0.05) / (low + 0.05)


TEXT_PAIRS = [
    ("fg", "bg"),
    ("fg", "card"),
    ("muted", "card"),
    ("muted", "bg"),
    ("accent", "card"),
    ("accent-fg", "accent"),
    ("accent-fg", "accent-hover"),
    ("accent-hover", "accent-soft"),
    ("error-fg", "error-bg"),
    ("info-fg", "info-bg"),
    ("success-fg", "success-bg"),
    ("danger", "card"),
] + [("card", f"tone-{n}") for n in range(6)]


@pytest.mark.parametrize(("text", "background"), TEXT_PAIRS)
def test_text_colours_meet_wcag_aa(text, background):
    assert contrast(colour(text), colour(background)) >= 4.5


def test_field_borders_and_focus_ring_are_visible():
    assert contrast(colour("field-line"), colour("card")) >= 3
    assert contrast(colour("focus"), colour("bg")) >= 3
    assert ":focus-visible" in CSS and "outline: 3px solid var(--focus)" in CSS


def test_no_cdn_or_outside_resources():
    assert not re.search(r"url\(\s*['\"]?(https?:)?//", CSS)
    assert "@import" not in CSS
    for name, text in TEMPLATES.items():
        assert not re.search(r"""(src|href)=["'](https?:)?//""", text), name


def test_one_stylesheet_and_no_inline_style_or_script():
    links = re.findall(r"<link[^>]*rel=\"stylesheet\"[^>]*>", "".join(TEMPLATES.values()))
    assert links == ['<link rel="stylesheet" href="{{ static_url(\'style.css\') }}">']
    for name, text in TEMPLATES.items():
        assert "<style" not in text and " style=" not in text, name
        assert not re.search(r"<script(?![^>]*\bsrc=)", text), name
        assert not re.search(r"\son[a-z]+=", text), name


def test_pages_are_responsive_and_labelled(client):
    page = client.get("/login").text
    assert '<meta name="viewport" content="width=device-width, initial-scale=1">' in page
    assert '<html lang="en">' in page
    assert 'class="skip-link" href="#content"' in page
    inputs = [tag for tag in re.findall(r"<input[^>]*>", page) if 'type="hidden"' not in tag]
    assert len(inputs) >= 3
    for tag in inputs:
        field = re.search(r'id="([^"]+)"', tag).group(1)
        wrapped = re.search(r"<label[^>]*>\s*" + re.escape(tag), page)
        assert f'<label for="{field}"' in page or wrapped, field
