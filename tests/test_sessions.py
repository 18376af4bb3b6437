"""Sessions end when they should: logout, a password change (one's own or an admin's
reset), disabling an account and a role change end every other session of that
account, remember cookies included; login starts a fresh session.

Each scenario logs the organizer in through the login form in one browser, copies its
session cookie into COPIES other browsers, gives one more browser a remember cookie
(the login form sets none, but Flask-Login honours one on every request, so it must
obey the same rule), and counts how many of them open /admin/ before and after.
"""

from __future__ import annotations

import pytest
from flask import Flask
from flask.testing import FlaskClient
from flask_login.utils import encode_cookie

from cluster_events.auth.users import OrganizerUser
from cluster_events.extensions import db
from cluster_events.models import Organizer
from tests.factories import ORGANIZER_PASSWORD, make_organizer

COPIES = 3
NEW_PASSWORD = "a brand new password"


def log_in_with_form(client: FlaskClient, email: str, password: str = ORGANIZER_PASSWORD) -> str:
    response = client.post("/login", data={"email": email, "password": password})
    assert response.status_code == 302, response.get_data(as_text=True)
    return client.get_cookie("session").value


def copied_browsers(app: Flask, session_cookie: str, organizer: Organizer) -> list[FlaskClient]:
    """COPIES browsers holding a copy of the session cookie, and one holding only a
    remember cookie for the account as it is now."""
    browsers = []
    for _ in range(COPIES):
        browser = app.test_client()
        browser.set_cookie("session", session_cookie)
        browsers.append(browser)
    remembered = app.test_client()
    with app.test_request_context():
        remembered.set_cookie("remember_token", encode_cookie(OrganizerUser(organizer).get_id()))
    browsers.append(remembered)
    return browsers


def opens_console(browser: FlaskClient) -> bool:
    response = browser.get("/admin/")
    if response.status_code == 200:
        return True
    assert response.status_code == 302
    assert response.headers["Location"].startswith("/login?next=")
    return False


def count_open(browsers: list[FlaskClient]) -> int:
    return sum(opens_console(browser) for browser in browsers)


def fresh(organizer: Organizer) -> Organizer:
    db.session.expire_all()
    return db.session.get(Organizer, organizer.id)


@pytest.fixture
def victim(app) -> Organizer:
    organizer = make_organizer(email="victim@example.org")
    db.session.commit()
    return organizer


@pytest.fixture
def admin_browser(app, client, login) -> FlaskClient:
    admin = make_organizer(role="admin", email="boss@example.org")
    db.session.commit()
    return login(admin)


@pytest.fixture
def victim_browser(app: Flask, victim: Organizer) -> tuple[FlaskClient, list[FlaskClient]]:
    """The victim's own browser, logged in with the form, and the copies of its login."""
    own = app.test_client()
    cookie = log_in_with_form(own, victim.email)
    copies = copied_browsers(app, cookie, fresh(victim))
    assert count_open(copies) == COPIES + 1
    assert opens_console(own)
    return own, copies


def test_logout_ends_this_and_every_other_session(app, victim, victim_browser):
    own, copies = victim_browser
    response = own.post("/logout")
    assert response.status_code == 302
    assert count_open(copies) == 0
    assert not opens_console(own)
    # Logging in again afterwards works as usual.
    assert opens_console(own) is False
    log_in_with_form(own, victim.email)
    assert opens_console(own)


def test_own_password_change_keeps_this_session_and_ends_the_others(app, victim, victim_browser):
    own, copies = victim_browser
    response = own.post(
        "/admin/password",
        data={
            "current_password": ORGANIZER_PASSWORD,
            "password": NEW_PASSWORD,
            "password_again": NEW_PASSWORD,
        },
    )
    assert response.status_code == 302
    assert count_open(copies) == 0
    assert opens_console(own)  # the browser that changed it stays logged in
    assert fresh(victim).session_generation == 1


def test_own_password_change_renews_a_remember_cookie_it_came_with(app, victim):
    browser = app.test_client()
    with app.test_request_context():
        browser.set_cookie("remember_token", encode_cookie(OrganizerUser(victim).get_id()))
    copy = app.test_client()
    copy.set_cookie("remember_token", browser.get_cookie("remember_token").value)
    assert opens_console(browser) and opens_console(copy)
    response = browser.post(
        "/admin/password",
        data={
            "current_password": ORGANIZER_PASSWORD,
            "password": NEW_PASSWORD,
            "password_again": NEW_PASSWORD,
        },
    )
    assert response.status_code == 302
    assert not opens_console(copy)
    renewed = browser.get_cookie("remember_token").value
    only_remembered = app.test_client()
    only_remembered.set_cookie("remember_token", renewed)
    assert opens_console(only_remembered)


def test_admin_password_reset_ends_every_session(app, victim, victim_browser, admin_browser):
    own, copies = victim_browser
    response = admin_browser.post(
        f"/admin/accounts/{victim.id}/password",
        data={"reset-password": NEW_PASSWORD, "reset-password_again": NEW_PASSWORD},
    )
    assert response.status_code == 302
    assert count_open([own, *copies]) == 0
    assert opens_console(admin_browser)
    log_in_with_form(own, victim.email, NEW_PASSWORD)
    assert opens_console(own)


def test_an_admin_resetting_their_own_password_stays_logged_in(app, admin_browser):
    me = db.session.scalar(db.select(Organizer).where(Organizer.email == "boss@example.org"))
    other = app.test_client()
    other.set_cookie("session", admin_browser.get_cookie("session").value)
    assert opens_console(other)
    response = admin_browser.post(
        f"/admin/accounts/{me.id}/password",
        data={"reset-password": NEW_PASSWORD, "reset-password_again": NEW_PASSWORD},
    )
    assert response.status_code == 302
    assert opens_console(admin_browser)
    assert not opens_console(other)


def test_disabling_ends_every_session_for_good(app, victim, victim_browser, admin_browser):
    own, copies = victim_browser
    response = admin_browser.post(
        f"/admin/accounts/{victim.id}", data={"name": "被害者", "role": "organizer"}
    )
    assert response.status_code == 302
    assert fresh(victim).is_enabled is False
    assert count_open([own, *copies]) == 0
    # Enabled again, the account does not bring the old sessions back.
    response = admin_browser.post(
        f"/admin/accounts/{victim.id}",
        data={"name": "被害者", "role": "organizer", "is_enabled": "y"},
    )
    assert response.status_code == 302
    assert count_open([own, *copies]) == 0
    log_in_with_form(app.test_client(), victim.email)


def test_a_role_change_ends_every_session(app, victim, victim_browser, admin_browser):
    own, copies = victim_browser
    response = admin_browser.post(
        f"/admin/accounts/{victim.id}",
        data={"name": "昇格", "role": "admin", "is_enabled": "y"},
    )
    assert response.status_code == 302
    assert fresh(victim).is_admin
    assert count_open([own, *copies]) == 0
    log_in_with_form(own, victim.email)
    assert own.get("/admin/accounts").status_code == 200  # logged in again, as an admin


def test_a_name_change_leaves_sessions_alone(app, victim, victim_browser, admin_browser):
    own, copies = victim_browser
    response = admin_browser.post(
        f"/admin/accounts/{victim.id}",
        data={"name": "新しい名前", "role": "organizer", "is_enabled": "y"},
    )
    assert response.status_code == 302
    assert count_open([own, *copies]) == COPIES + 2


def test_an_identity_without_the_generation_is_refused(app, victim):
    """Sessions and remember cookies made before generations existed held the bare id."""
    by_session = app.test_client()
    with by_session.session_transaction() as session:
        session["_user_id"] = str(victim.id)
        session["_fresh"] = True
    by_cookie = app.test_client()
    with app.test_request_context():
        by_cookie.set_cookie("remember_token", encode_cookie(str(victim.id)))
    assert count_open([by_session, by_cookie]) == 0


def test_login_starts_a_fresh_session(app, victim):
    browser = app.test_client()
    with browser.session_transaction() as session:
        session["planted"] = "by someone else"
        session["csrf_token"] = "a token someone else knows"
    planted_cookie = browser.get_cookie("session").value
    log_in_with_form(browser, victim.email)
    with browser.session_transaction() as session:
        assert "planted" not in session
        assert session.get("csrf_token") != "a token someone else knows"
    assert browser.get_cookie("session").value != planted_cookie
    assert opens_console(browser)
    planted = app.test_client()
    planted.set_cookie("session", planted_cookie)
    assert not opens_console(planted)
