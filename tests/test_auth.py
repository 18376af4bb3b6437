"""Organizer login, logout, sessions, rate limits, accounts and the create-organizer command."""

from __future__ import annotations

import re

import pytest
from flask_login import current_user
from sqlalchemy import select

from cluster_events import create_app
from cluster_events.extensions import db
from cluster_events.models import AuditLogEntry, Event, Organizer, OrganizerRole
from tests.factories import ORGANIZER_PASSWORD, make_event, make_organizer

WRONG = "The email address or the password is not correct."


def log_in(client, email, password=ORGANIZER_PASSWORD, **extra):
    return client.post("/login?lang=en", data={"email": email, "password": password, **extra})


def test_login_page_is_translated_and_has_labels(client):
    page = client.get("/login").get_data(as_text=True)
    assert "ログイン" in page
    assert '<label for="email">' in page and '<label for="password">' in page
    assert 'autocomplete="current-password"' in page


def test_login_sets_a_permanent_session_and_lands_on_the_console(app, client):
    organizer = make_organizer(email="jimukyoku@example.org")
    db.session.commit()
    response = log_in(client, "ＪＩＭＵＫＹＯＫＵ＠example.org")
    assert response.status_code == 302
    assert response.headers["Location"] == "/admin/"
    cookie = response.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie and "Expires=" in cookie
    assert client.get("/admin/").status_code == 200
    assert db.session.get(Organizer, organizer.id).last_login_at is not None


def test_passwords_are_stored_as_scrypt_hashes(app):
    from cluster_events.auth.services import create_organizer

    organizer = create_organizer("a@example.org", "a long enough password")
    assert organizer.password_hash.startswith("scrypt:")
    assert "a long enough password" not in organizer.password_hash


@pytest.mark.parametrize("case", ["wrong password", "unknown address", "disabled account"])
def test_every_failed_login_says_the_same(app, client, case):
    make_organizer(email="known@example.org")
    make_organizer(email="off@example.org", is_enabled=False)
    db.session.commit()
    email, password = {
        "wrong password": ("known@example.org", "not the password"),
        "unknown address": ("nobody@example.org", ORGANIZER_PASSWORD),
        "disabled account": ("off@example.org", ORGANIZER_PASSWORD),
    }[case]
    response = log_in(client, email, password)
    assert response.status_code == 401
    page = response.get_data(as_text=True)
    assert WRONG in page
    assert 'aria-describedby="login-error"' in page
    assert 'value="not the password"' not in page
    with client:
        client.get("/login")
        assert not current_user.is_authenticated


def test_nul_bytes_in_a_login_are_a_400(app, client):
    response = client.post("/login", data={"email": "a\x00@example.org", "password": "x"})
    assert response.status_code == 400


def test_disabling_an_account_ends_its_sessions(app, client, login):
    organizer = make_organizer()
    db.session.commit()
    login(organizer)
    assert client.get("/admin/").status_code == 200
    organizer.is_enabled = False
    db.session.commit()
    assert client.get("/admin/").status_code == 302


def test_logout_needs_a_post_and_ends_the_session(client, logged_in_client):
    logged_in_client()
    assert client.get("/logout").status_code == 405
    response = client.post("/logout")
    assert response.status_code == 302
    response = client.get("/admin/")
    assert response.status_code == 302
    assert response.headers["Location"].startswith("/login?next=")


@pytest.mark.parametrize(
    ("next_url", "expected"),
    [
        ("/admin/events", "/admin/events"),
        ("https://evil.example/admin", "/admin/"),
        ("//evil.example/admin", "/admin/"),
        ("/\\evil.example", "/admin/"),
        ("javascript:alert(1)", "/admin/"),
    ],
)
def test_next_only_leads_to_this_site(app, client, next_url, expected):
    make_organizer(email="n@example.org")
    db.session.commit()
    response = log_in(client, "n@example.org", next=next_url)
    assert response.headers["Location"] == expected


def test_anonymous_console_visit_remembers_where_it_was_going(app, client):
    make_organizer(email="m@example.org")
    db.session.commit()
    response = client.get("/admin/events?show=draft")
    location = response.headers["Location"]
    page = client.get(location).get_data(as_text=True)
    assert 'value="/admin/events?show=draft"' in page
    assert log_in(client, "m@example.org", next="/admin/events?show=draft").headers["Location"] == (
        "/admin/events?show=draft"
    )


class TestRateLimit:
    @pytest.fixture
    def app_config(self, app_config):
        return {**app_config, "RATELIMIT_ENABLED": True, "LOGIN_RATE_LIMIT": "5 per minute"}

    def test_five_failures_from_one_address_block_the_sixth_try(self, app, client):
        make_organizer(email="r@example.org")
        db.session.commit()
        for number in range(5):
            assert log_in(client, f"guess{number}@example.org", "x").status_code == 401
        blocked = log_in(client, "r@example.org")
        assert blocked.status_code == 429
        assert "Too many requests" in blocked.get_data(as_text=True)

    def test_successful_logins_do_not_count(self, app, client):
        make_organizer(email="often@example.org")
        db.session.commit()
        for _ in range(7):
            assert log_in(client, "often@example.org").status_code == 302


@pytest.mark.parametrize(
    ("site_url", "secure"),
    [("https://events.example.org", True), ("http://127.0.0.1:5000", False)],
)
def test_cookies_are_secure_outside_debug_testing_and_local_http(app_config, site_url, secure):
    config = {**app_config, "TESTING": False, "DEBUG": False, "SITE_URL": site_url}
    app = create_app(config)
    assert app.config["SESSION_COOKIE_SECURE"] is secure
    with app.app_context():
        make_organizer(email="s@example.org")
        db.session.commit()
        response = app.test_client().post(
            "/login",
            data={"email": "s@example.org", "password": ORGANIZER_PASSWORD},
            base_url=site_url,  # outside testing, the app answers to SITE_URL's host only
        )
        assert ("Secure" in response.headers["Set-Cookie"]) is secure
        db.session.remove()
        db.engine.dispose()


class TestExpiredSessionKeepsTheForm:
    """A form sent after the session ended comes back with what was typed."""

    @pytest.fixture
    def app_config(self, app_config):
        return {**app_config, "WTF_CSRF_ENABLED": True}

    def test_edit_form_survives_a_lost_session(self, app, client):
        event = make_event(title="元のタイトル")
        make_organizer(email="e@example.org")
        db.session.commit()
        typed = {
            "csrf_token": "stale-token-from-yesterday",
            "title": "書きかけの新しいタイトル",
            "body": "長い説明文\n\n- 一行目",
            "save": "1",
        }
        response = client.post(f"/admin/events/{event.id}/edit", data=typed)
        assert response.status_code == 401
        page = response.get_data(as_text=True)
        assert "書きかけの新しいタイトル" in page
        assert "stale-token-from-yesterday" not in page

        login_token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page)[1]
        resume = dict(re.findall(r'name="(resume:[^"]+)" value="([^"]*)"', page))
        assert resume["resume:title"] == "書きかけの新しいタイトル"
        response = client.post(
            "/login",
            data={
                "csrf_token": login_token,
                "email": "e@example.org",
                "password": ORGANIZER_PASSWORD,
                "next": f"/admin/events/{event.id}/edit",
                **resume,
            },
        )
        assert response.status_code == 200
        page = response.get_data(as_text=True)
        fields = dict(re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)"', page))
        assert fields["title"] == "書きかけの新しいタイトル"
        assert fields["_resume"] == "1"

        response = client.post(f"/admin/events/{event.id}/edit", data=fields)
        assert response.status_code == 200, response.get_data(as_text=True)
        page = response.get_data(as_text=True)
        assert 'value="書きかけの新しいタイトル"' in page
        assert "まだ保存していません" in page
        db.session.expire_all()
        assert db.session.get(Event, event.id).title == "元のタイトル"

    def test_expired_token_while_logged_in_keeps_the_form(self, app, client, login):
        login(make_organizer())
        db.session.commit()
        response = client.post(
            "/admin/events/new", data={"csrf_token": "expired", "title": "新しい懇談会"}
        )
        assert response.status_code == 400
        page = response.get_data(as_text=True)
        assert 'name="title" value="新しい懇談会"' in page
        assert db.session.scalar(select(Event)) is None

    def test_resume_marker_is_refused_where_nothing_can_be_resumed(self, app, client, login):
        event = make_event()
        login(make_organizer())
        db.session.commit()
        with client:
            client.get("/admin/")
            from flask_wtf.csrf import generate_csrf

            token = generate_csrf()
        response = client.post(
            f"/admin/events/{event.id}/publish", data={"csrf_token": token, "_resume": "1"}
        )
        assert response.status_code == 400


def test_organizer_changes_own_password(app, client, logged_in_client):
    logged_in_client()
    response = client.post(
        "/admin/password",
        data={
            "current_password": "wrong",
            "password": "new password 2026",
            "password_again": "new password 2026",
        },
    )
    assert response.status_code == 400
    response = client.post(
        "/admin/password",
        data={
            "current_password": ORGANIZER_PASSWORD,
            "password": "new password 2026",
            "password_again": "new password 2026",
        },
    )
    assert response.status_code == 302
    client.post("/logout")
    assert log_in(client, client.organizer.email, "new password 2026").status_code == 302


class TestAccounts:
    def test_admin_creates_an_organizer_who_can_log_in(self, app, client, logged_in_client):
        logged_in_client("admin")
        response = client.post(
            "/admin/accounts/new",
            data={
                "email": "new@example.org",
                "name": "新人",
                "role": "organizer",
                "password": "ten chars!",
            },
        )
        assert response.status_code == 302
        created = db.session.scalar(select(Organizer).where(Organizer.email == "new@example.org"))
        assert created.role == OrganizerRole.organizer
        entry = db.session.scalar(
            select(AuditLogEntry).where(AuditLogEntry.action == "organizer.create")
        )
        assert entry.organizer_id == client.organizer.id
        assert "password" not in str(entry.after)
        client.post("/logout")
        assert log_in(client, "new@example.org", "ten chars!").status_code == 302

    def test_duplicate_address_and_short_password_are_explained(
        self, app, client, logged_in_client
    ):
        logged_in_client("admin", email="boss@example.org")
        response = client.post(
            "/admin/accounts/new?lang=en",
            data={"email": "boss@example.org", "role": "organizer", "password": "long enough 1"},
        )
        assert response.status_code == 400
        assert "already exists" in response.get_data(as_text=True)
        response = client.post(
            "/admin/accounts/new?lang=en",
            data={"email": "x@example.org", "role": "organizer", "password": "short"},
        )
        assert response.status_code == 400
        assert 'id="password-error"' in response.get_data(as_text=True)

    def test_admin_disables_promotes_and_resets(self, app, client, logged_in_client):
        logged_in_client("admin")
        other = make_organizer(email="other@example.org")
        db.session.commit()
        response = client.post(
            f"/admin/accounts/{other.id}", data={"name": "他の人", "role": "admin"}
        )
        assert response.status_code == 302
        db.session.expire_all()
        other = db.session.get(Organizer, other.id)
        assert other.role == "admin" and other.is_enabled is False
        response = client.post(
            f"/admin/accounts/{other.id}/password",
            data={"reset-password": "brand new secret", "reset-password_again": "brand new secret"},
        )
        assert response.status_code == 302
        db.session.expire_all()
        from werkzeug.security import check_password_hash

        assert check_password_hash(
            db.session.get(Organizer, other.id).password_hash, "brand new secret"
        )

    def test_an_admin_cannot_lock_themselves_out(self, app, client, logged_in_client):
        logged_in_client("admin")
        me = client.organizer.id
        response = client.post(
            f"/admin/accounts/{me}?lang=en", data={"role": "organizer", "is_enabled": "y"}
        )
        assert response.status_code == 400
        assert "your own admin role" in response.get_data(as_text=True)
        db.session.expire_all()
        assert db.session.get(Organizer, me).is_admin

    def test_the_last_admin_stays(self, app):
        from cluster_events.auth.services import AccountError, update_organizer

        only_admin = make_organizer(role="admin")
        db.session.commit()
        with app.test_request_context(), pytest.raises(AccountError):
            update_organizer(only_admin.id, name="", role="organizer", is_enabled=True)

    def test_forged_account_id_is_404(self, client, logged_in_client):
        logged_in_client("admin")
        assert client.get("/admin/accounts/99999").status_code == 404
        assert client.post("/admin/accounts/99999/password").status_code == 404


class TestCreateOrganizerCommand:
    def test_reads_the_password_from_the_environment(self, app, runner, monkeypatch):
        monkeypatch.setenv("CLUSTER_EVENTS_ORGANIZER_PASSWORD", "from the environment")
        result = runner.invoke(
            args=["create-organizer", "Chief@Example.org", "--admin", "--name", "事務局長"]
        )
        assert result.exit_code == 0, result.output
        organizer = db.session.scalar(select(Organizer))
        assert (organizer.email, organizer.role, organizer.name) == (
            "chief@example.org",
            "admin",
            "事務局長",
        )

    def test_asks_twice_and_refuses_a_mismatch(self, app, runner, monkeypatch):
        monkeypatch.delenv("CLUSTER_EVENTS_ORGANIZER_PASSWORD", raising=False)
        result = runner.invoke(
            args=["create-organizer", "staff@example.org"],
            input="typed password\ntyped passwort\ntyped password\ntyped password\n",
        )
        assert result.exit_code == 0, result.output
        assert "Error: The two entered values do not match." in result.output
        organizer = db.session.scalar(select(Organizer))
        assert organizer.role == "organizer"

    def test_existing_address_fails_cleanly(self, app, runner, monkeypatch):
        make_organizer(email="dup@example.org")
        db.session.commit()
        monkeypatch.setenv("CLUSTER_EVENTS_ORGANIZER_PASSWORD", "another password")
        result = runner.invoke(args=["create-organizer", "dup@example.org"])
        assert result.exit_code == 1
        assert "already exists" in result.output
