"""The footer: staff sign in and out from any page."""

from __future__ import annotations

import re

from tests.pages.conftest import html

SIGN_OUT_FORM = re.compile(
    r'<form class="sign-out" method="post" action="/admin/logout/">'
    r'<input type="hidden" name="csrfmiddlewaretoken" value="([^"]+)">'
    r'<input type="hidden" name="next" value="/channels\?q=x">'
    r"<button type=\"submit\">Sign out</button></form>"
)


def test_it_offers_anonymous_visitors_a_sign_in_link(client, db):
    text = html(client.get("/channels"))
    assert "Staff sign-in" in text
    assert "Sign out" not in text


def test_it_signs_staff_out_with_a_post_and_returns_to_the_page(csrf_client):
    page = html(csrf_client.get("/channels?q=x"))
    form = SIGN_OUT_FORM.search(page)
    assert form, "no sign-out form in the footer"

    response = csrf_client.post(
        "/admin/logout/", {"csrfmiddlewaretoken": form.group(1), "next": "/channels?q=x"}
    )

    assert response.status_code == 302
    assert response["Location"] == "/channels?q=x"
    after = html(csrf_client.get("/channels"))
    assert "Staff sign-in" in after and "Sign out" not in after


def test_it_keeps_staff_signed_in_without_the_csrf_token(csrf_client):
    assert csrf_client.post("/admin/logout/", {"next": "/channels"}).status_code == 403
    assert "Sign out" in html(csrf_client.get("/channels"))
