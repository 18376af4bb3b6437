from tests.factories import make_event


def test_event_page_renders_in_japanese(app, client):
    event = make_event(title="省エネ・環境経営セミナー")
    app.extensions["sqlalchemy"].session.commit()
    response = client.get(f"/events/{event.slug}")
    assert response.status_code == 200
    assert "省エネ・環境経営セミナー" in response.get_data(as_text=True)
