"""The member list's console screens over HTTP: organizers read, admins change, refusals
shown at their fields and nothing stored."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import func, select

from cluster_events.extensions import db
from cluster_events.members import services
from cluster_events.members.services import PersonData
from cluster_events.models import Member, MemberPerson, MemberStatus
from tests.factories import ORGANIZER_PASSWORD, make_organizer


def add_member(app, number, name, kana, email, kind="corporate"):
    with app.test_request_context():
        member = services.create_member(
            kind=kind,
            number=number,
            name=name,
            name_kana=kana,
            people=[PersonData(name="担当", name_kana="たんとう", email=email)],
        )
        return member.id


def member_count() -> int:
    return db.session.scalar(select(func.count(Member.id)))


NEW = {
    "kind": "corporate",
    "number": "C-100",
    "name": "株式会社さくら",
    "name_kana": "サクラ",
    "joined_on": "2024-04-01",
    "note": "",
    "people-0-name": "山田太郎",
    "people-0-name_kana": "やまだたろう",
    "people-0-email": "yamada@example.org",
}


def test_list_search_and_filters(app, logged_in_client):
    client = logged_in_client()
    add_member(app, "C-2", "渡辺商事", "わたなべしょうじ", "w@example.org")
    add_member(app, "C-1", "青木工業", "あおきこうぎょう", "a@example.org")
    add_member(app, "I-1", "佐藤花子", "さとうはなこ", "hanako@example.jp", kind="individual")
    page = client.get("/admin/members").get_data(as_text=True)
    assert page.index("青木工業") < page.index("佐藤花子") < page.index("渡辺商事")
    page = client.get("/admin/members?q=hanako").get_data(as_text=True)
    assert "佐藤花子" in page and "青木工業" not in page
    page = client.get("/admin/members?q=アオキ").get_data(as_text=True)
    assert "青木工業" in page and "渡辺商事" not in page
    page = client.get("/admin/members?kind=individual").get_data(as_text=True)
    assert "佐藤花子" in page and "渡辺商事" not in page
    page = client.get("/admin/members?status=withdrawn").get_data(as_text=True)
    assert "佐藤花子" not in page
    assert client.get("/admin/members?kind=nonsense").status_code == 400


def test_admin_creates_edits_and_withdraws(app, logged_in_client):
    client = logged_in_client(role="admin")
    response = client.post("/admin/members/new", data=NEW)
    assert response.status_code == 302
    member = db.session.scalars(select(Member)).one()
    assert (member.name_kana, member.people[0].email) == ("さくら", "yamada@example.org")
    assert "山田太郎" in client.get(f"/admin/members/{member.id}").get_data(as_text=True)

    edit = {**NEW, "name": "さくら株式会社", "status": "lapsed"}
    assert client.post(f"/admin/members/{member.id}/edit", data=edit).status_code == 302
    person = member.people[0]
    data = {"name": "山田花子", "name_kana": "やまだはなこ", "email": "hanako@example.org"}
    url = f"/admin/members/{member.id}/people/{person.id}/edit"
    assert client.post(url, data=data).status_code == 302
    other = {"name": "鈴木", "name_kana": "すずき", "email": "suzuki@example.org"}
    assert client.post(f"/admin/members/{member.id}/people/new", data=other).status_code == 302
    assert client.post(f"/admin/members/{member.id}/withdraw").status_code == 302
    db.session.expire_all()
    member = db.session.get(Member, member.id)
    assert member.name == "さくら株式会社"
    assert member.status == MemberStatus.withdrawn
    assert sorted(p.email for p in member.people) == ["hanako@example.org", "suzuki@example.org"]
    assert client.post(f"/admin/members/{member.id}/reactivate").status_code == 302
    db.session.expire_all()
    assert db.session.get(Member, member.id).status == MemberStatus.active


def test_an_organizer_reads_but_cannot_change(app, logged_in_client):
    client = logged_in_client()
    member_id = add_member(app, "C-1", "青木工業", "あおきこうぎょう", "a@example.org")
    page = client.get(f"/admin/members/{member_id}").get_data(as_text=True)
    assert "a@example.org" in page and "/withdraw" not in page
    assert client.post("/admin/members/new", data=NEW).status_code == 403
    response = client.post(f"/admin/members/{member_id}/withdraw")
    assert response.status_code == 403 and "<main" in response.get_data(as_text=True)
    db.session.expire_all()
    assert member_count() == 1
    assert db.session.get(Member, member_id).status == MemberStatus.active


def test_a_refusal_is_shown_at_its_field_and_nothing_is_stored(app, logged_in_client):
    client = logged_in_client(role="admin")
    add_member(app, "C-1", "青木工業", "あおきこうぎょう", "yamada@example.org")
    response = client.post(
        "/admin/members/new",
        data={**NEW, "name_kana": "sakura", "people-0-email": "new@example.org"},
    )
    assert response.status_code == 400
    page = response.get_data(as_text=True)
    assert 'id="name_kana-error"' in page
    response = client.post("/admin/members/new", data=NEW)
    assert response.status_code == 409
    assert 'id="people-0-email-error"' in response.get_data(as_text=True)
    assert member_count() == 1
    assert db.session.scalar(select(func.count(MemberPerson.id))) == 1


def test_unknown_ids_are_404_in_the_layout(app, logged_in_client):
    client = logged_in_client(role="admin")
    member_id = add_member(app, "C-1", "青木工業", "あおきこうぎょう", "a@example.org")
    other_id = add_member(app, "C-2", "渡辺商事", "わたなべしょうじ", "w@example.org")
    other_person = db.session.get(Member, other_id).people[0].id
    for url in (
        "/admin/members/99999",
        "/admin/members/99999/edit",
        f"/admin/members/{member_id}/people/{other_person}/edit",
        f"/admin/members/{member_id}/people/99999/edit",
    ):
        response = client.get(url)
        assert response.status_code == 404, url
        assert "<main" in response.get_data(as_text=True)


class TestFormsSurviveALostSession:
    """A member form sent after the session ended comes back filled in after logging in,
    unsaved, as the event and venue forms do."""

    @pytest.fixture
    def app_config(self, app_config):
        return {**app_config, "WTF_CSRF_ENABLED": True}

    @pytest.fixture(autouse=True)
    def boss(self, app):
        make_organizer(email="boss@example.org", role="admin")
        db.session.commit()

    def resume_through_login(self, client, path: str, typed: dict[str, str]) -> str:
        response = client.post(path, data={"csrf_token": "stale", **typed})
        assert response.status_code == 401
        page = response.get_data(as_text=True)
        login_token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page)[1]
        resume = dict(re.findall(r'name="(resume:[^"]+)" value="([^"]*)"', page))
        response = client.post(
            "/login",
            data={
                "csrf_token": login_token,
                "email": "boss@example.org",
                "password": ORGANIZER_PASSWORD,
                "next": path,
                **resume,
            },
        )
        assert response.status_code == 200
        fields = dict(
            re.findall(
                r'<input type="hidden" name="([^"]+)" value="([^"]*)"',
                response.get_data(as_text=True),
            )
        )
        assert fields["_resume"] == "1"
        response = client.post(path, data=fields)
        assert response.status_code == 200, response.get_data(as_text=True)
        page = response.get_data(as_text=True)
        assert "まだ保存していません" in page
        return page

    def test_new_member(self, app, client):
        page = self.resume_through_login(client, "/admin/members/new", NEW)
        assert 'value="株式会社さくら"' in page
        assert 'value="yamada@example.org"' in page
        assert member_count() == 0

    def test_editing_a_member_and_a_person(self, app, client):
        member_id = add_member(app, "C-1", "元の名前", "もとのなまえ", "a@example.org")
        person_id = db.session.get(Member, member_id).people[0].id
        page = self.resume_through_login(
            client,
            f"/admin/members/{member_id}/edit",
            {
                "number": "C-1",
                "name": "書きかけの名前",
                "name_kana": "かきかけ",
                "status": "active",
            },
        )
        assert 'value="書きかけの名前"' in page
        page = self.resume_through_login(
            app.test_client(),
            f"/admin/members/{member_id}/people/{person_id}/edit",
            {"name": "書きかけの担当", "name_kana": "かきかけ", "email": "new@example.org"},
        )
        assert 'value="new@example.org"' in page
        db.session.expire_all()
        assert db.session.get(Member, member_id).name == "元の名前"
        assert db.session.get(MemberPerson, person_id).email == "a@example.org"
