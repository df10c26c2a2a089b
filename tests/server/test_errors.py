"""One error family: every error is the JSON shape (or a page for a browser); bugs are 500s."""

from __future__ import annotations

import logging

from aiohttp import web

from server.state import STATE


async def test_unknown_path_and_method_are_json(aiohttp_client, app_factory):
    client = await aiohttp_client(app_factory())
    resp = await client.get("/nope")
    assert resp.status == 404
    body = await resp.json()
    assert body == {"error": {"code": "not_found", "message": "Not Found", "field": None}}
    resp = await client.delete("/api/plans")
    assert resp.status == 405
    assert (await resp.json())["error"]["code"] == "method_not_allowed"
    assert "POST" in resp.headers["Allow"]


async def test_link_errors_are_json(aiohttp_client, app_factory):
    client = await aiohttp_client(app_factory())
    resp = await client.get("/api/plans/AAAA.zip")
    assert resp.status == 404
    assert (await resp.json())["error"]["code"] == "not_found"


async def test_browser_gets_an_html_error_page(aiohttp_client, app_factory):
    client = await aiohttp_client(app_factory())
    resp = await client.get("/no/such/page", headers={"Accept": "text/html"})
    assert resp.status == 404
    assert resp.content_type == "text/html"
    assert "<h1>404</h1>" in await resp.text()


async def test_a_bug_is_a_500_with_a_request_id(aiohttp_client, app_factory, caplog):
    app = app_factory()

    async def broken(request: web.Request) -> web.Response:
        request.app[STATE].library.no_such_attribute  # noqa: B018 - a bug on purpose
        return web.Response()

    app.router.add_get("/broken", broken)
    client = await aiohttp_client(app)
    with caplog.at_level(logging.ERROR, logger="planstream.server"):
        resp = await client.get("/broken")
    assert resp.status == 500
    body = await resp.json()
    rid = resp.headers["X-Request-Id"]
    assert body["error"]["code"] == "internal" and rid in body["error"]["message"]
    errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert len(errors) == 1 and rid in errors[0].getMessage() and errors[0].exc_info


async def test_validation_error_names_the_field(aiohttp_client, app_factory):
    client = await aiohttp_client(app_factory())
    resp = await client.post("/api/plans", json={"name": "x", "mode": "focus", "age": 3})
    assert resp.status == 400
    err = (await resp.json())["error"]
    assert err["field"] == "age" and err["code"] == "out_of_range"
