"""The teacher page over HTTP without a browser: headers, languages, JS-off form, plan page."""

from __future__ import annotations

import io
import re
import time
import zipfile
from datetime import date
from html import unescape

from aiohttp.test_utils import TestClient

from generators.plan import build_plan
from generators.request import PlanRequest
from generators.worksheets import REGISTRY
from server.pages import handlers
from server.pages.form import next_monday
from server.state import STATE

HTML = {"Accept": "text/html,application/xhtml+xml"}
FORM = {
    "ui": "zh",
    "name": "王小明",
    "mode": "assessment",
    "age": "8",
    "weeks": "4",
    "lessons_per_week": "3",
    "exercises_per_lesson": "7",
    "start_date": "2026-09-07",
    "lang": "zh",
    "scores.span": "40",
    "scores.sustained": "55",
    "scores.selective": "70",
}


def _field(page: str, name: str) -> str:
    """The opening tag of the input called ``name``."""
    match = re.search(rf'<(?:input|select)[^>]*name="{re.escape(name)}"[^>]*>', page)
    assert match, name
    return match.group(0)


def _attr(tag: str, attr: str) -> str | None:
    match = re.search(rf'\s{attr}="([^"]*)"', tag)
    return unescape(match.group(1)) if match else None


def _check_page_headers(headers) -> None:
    csp = headers["Content-Security-Policy"]
    script = next(p for p in csp.split(";") if p.strip().startswith("script-src"))
    assert "'unsafe-inline'" not in script and "'unsafe-eval'" not in script
    assert "frame-ancestors 'none'" in csp
    assert headers["Referrer-Policy"] == "no-referrer"
    assert headers["X-Frame-Options"] == "DENY"
    assert headers["X-Content-Type-Options"] == "nosniff"


async def test_form_page_chinese_by_default(aiohttp_client, app_factory):
    client = await aiohttp_client(app_factory())
    resp = await client.get("/", headers=HTML)
    assert resp.status == 200
    _check_page_headers(resp.headers)
    page = await resp.text()
    assert '<html lang="zh-CN">' in page
    for label in ("姓名", "模式", "年龄", "周数", "每周课数", "每课练习数", "开始日期", "方案语言"):
        assert f">{label}</" in page, label
    for label in ("测评结果模式", "专注力备课模式", "注意广度", "视觉追踪"):
        assert f">{label}</label>" in page, label
    assert _attr(_field(page, "weeks"), "value") == "4"
    assert _attr(_field(page, "lessons_per_week"), "value") == "3"
    assert _attr(_field(page, "exercises_per_lesson"), "value") == "7"
    start = date.fromisoformat(_attr(_field(page, "start_date"), "value") or "")
    assert start.weekday() == 0 and 0 < (start - date.today()).days <= 7
    assert start == next_monday(date.today())
    assert "0 到 100" in page and "至少填写 3 项" in page
    # No inline script anywhere: every <script> has a src under /static/.
    scripts = re.findall(r"<script([^>]*)>", page)
    assert scripts and all('src="/static/' in s for s in scripts)
    assert 'href="/?lang=en"' in page  # the visible switch


async def test_english_by_query_and_by_accept_language(aiohttp_client, app_factory):
    client = await aiohttp_client(app_factory())
    for url, headers in (("/?lang=en", HTML), ("/", dict(HTML, **{"Accept-Language": "en-US"}))):
        page = await (await client.get(url, headers=headers)).text()
        assert '<html lang="en">' in page
        for label in ("Name", "Mode", "Age", "Weeks", "Lessons per week", "Start date"):
            assert f">{label}</" in page, label
        assert ">Attention span</label>" in page
        assert _attr(_field(page, "lang"), "id") == "f-lang"
        assert re.search(r'<option value="en" selected', page)
        assert "年龄" not in page


async def test_static_assets_are_cached(aiohttp_client, app_factory):
    client = await aiohttp_client(app_factory())
    page = await (await client.get("/", headers=HTML)).text()
    css = re.search(r'href="(/static/page\.css\?v=[0-9a-f]+)"', page).group(1)
    js = re.search(r'src="(/static/page\.js\?v=[0-9a-f]+)"', page).group(1)
    for url, ctype in ((css, "text/css"), (js, "text/javascript")):
        resp = await client.get(url)
        assert resp.status == 200 and resp.content_type == ctype
        assert "max-age=31536000" in resp.headers["Cache-Control"]
        assert len(await resp.read()) > 500
        again = await client.get(url, headers={"If-None-Match": resp.headers["ETag"]})
        assert again.status == 304
    assert (await client.get("/static/../app.py")).status == 404
    assert (await client.get("/static/nope.css")).status == 404


async def _errors(client: TestClient, data: dict) -> tuple[int, str]:
    resp = await client.post("/plans", data=data, headers=HTML, allow_redirects=False)
    return resp.status, await resp.text()


def _message_of(page: str, name: str) -> str:
    """The message beside a field: the element its aria-describedby names, ``err-…``."""
    tag = _field(page, name)
    assert _attr(tag, "aria-invalid") == "true", name
    ids = (_attr(tag, "aria-describedby") or "").split()
    own = "err-" + name.replace(".", "-")
    err = own if own in ids else next(i for i in ids if i.startswith("err-"))
    match = re.search(rf'<p class="error" id="{err}">([^<]*)</p>', page)
    assert match, err
    return unescape(match.group(1))


async def test_bad_input_shows_each_message_beside_its_field(aiohttp_client, app_factory):
    """JS off: age 3, one score, empty name -> three messages, values kept, summary links."""
    client = await aiohttp_client(app_factory())
    bad = dict(FORM, name="", age="3", **{"scores.sustained": "", "scores.selective": ""})
    for ui, name_msg, age_msg, scores_msg in (
        ("zh", "请填写姓名。", "年龄须为 4 到 14 之间的整数。", "至少需要 3 项得分"),
        (
            "en",
            "Name is required.",
            "Age must be a whole number from 4 to 14.",
            "at least 3 scores",
        ),
    ):
        status, page = await _errors(client, dict(bad, ui=ui))
        assert status == 400
        assert _message_of(page, "name") == name_msg
        assert _message_of(page, "age") == age_msg
        assert scores_msg in _message_of(page, "scores.span")
        # Typed values are kept, the page is in its language, and a summary links to fields.
        assert _attr(_field(page, "age"), "value") == "3"
        assert _attr(_field(page, "scores.span"), "value") == "40"
        assert _attr(_field(page, "weeks"), "value") == "4"
        assert ('lang="en"' if ui == "en" else 'lang="zh-CN"') in page[:200]
        summary = re.search(r'<div class="summary".*?</div>', page, re.S).group(0)
        for target in ("#f-name", "#f-age", "#f-scores"):
            assert f'href="{target}"' in summary
        assert 'id="f-scores"' in page


async def test_each_rule_comes_from_plan_request(aiohttp_client, app_factory):
    """Messages follow PlanRequest's own checks: bounds, forbidden characters, focus mode."""
    client = await aiohttp_client(app_factory())
    cases = {
        "weeks": ("53", "周数须为 1 到 52"),
        "lessons_per_week": ("0", "每周课数须为 1 到 7"),
        "exercises_per_lesson": ("x", "每课练习数须为 3 到 10"),
        "scores.span": ("101", "注意广度的得分须为 0 到 100"),
        "name": ("a/b", "不能包含"),
        "start_date": ("1999-01-01", "2000 到 2099"),
    }
    for name, (value, expected) in cases.items():
        status, page = await _errors(client, dict(FORM, **{name: value}))
        assert status == 400, name
        assert expected in _message_of(page, name), name
    # Focus mode ignores the (hidden) score inputs instead of failing on them.
    resp = await client.post(
        "/plans", data=dict(FORM, mode="focus"), headers=HTML, allow_redirects=False
    )
    assert resp.status == 303


async def test_valid_form_redirects_to_the_plan_page(aiohttp_client, app_factory):
    app = app_factory()
    client = await aiohttp_client(app)
    resp = await client.post("/plans", data=FORM, headers=HTML, allow_redirects=False)
    assert resp.status == 303
    location = resp.headers["Location"]
    assert re.fullmatch(r"/plans/[A-Za-z0-9_-]+\?lang=zh", location)
    resp = await client.get(location, headers=HTML)
    assert resp.status == 200
    _check_page_headers(resp.headers)
    page = await resp.text()
    token = location.split("/")[2].split("?")[0]
    state = app[STATE]
    req = PlanRequest.from_mapping({k: v for k, v in FORM.items() if k != "ui"})
    archive = state.archive_for(req)
    assert "王小明" in page and "测评结果模式" in page
    assert f"{archive.layout.total_size / 1e6:.1f} MB，{len(archive.layout)} 个文件" in page
    expires = time.gmtime(time.time() + state.config.link_ttl)
    assert time.strftime("%Y-%m-%d", expires) in page
    assert f'href="/api/plans/{token}.zip"' in page
    assert f'href="/?from={token}&amp;lang=zh"' in page
    # The schedule: every lesson's exercise titles, in order, as in the plan.
    plan = build_plan(req)
    listed = re.findall(r'<ol class="exercises">(.*?)</ol>', page, re.S)
    assert len(listed) == len(plan.lessons) == 12
    for lesson, html_list in zip(plan.lessons, listed, strict=True):
        titles = [unescape(t) for t in re.findall(r"<li>([^<]*)</li>", html_list)]
        assert titles == [REGISTRY[ex.kind].title_for(ex.spec) for ex in lesson.exercises]
    # ... and the same data as the overview inside the ZIP (one row per lesson).
    body = await (await client.get(f"/api/plans/{token}.zip")).read()
    overview = zipfile.ZipFile(io.BytesIO(body)).read(archive.layout.names[0]).decode()
    rows = re.findall(
        r'<tr><td class="num">(\d+)</td><td class="num">(\d+)</td>(.*?)</tr>', overview
    )
    assert len(rows) == len(listed)
    for (week, number, cells), lesson, html_list in zip(rows, plan.lessons, listed, strict=True):
        assert (int(week), int(number)) == (lesson.week, lesson.number_in_week)
        for title in re.findall(r"<li>([^<]*)</li>", html_list):
            assert title in cells
    # "Make another plan" keeps the inputs.
    again = await (await client.get(f"/?from={token}&lang=zh", headers=HTML)).text()
    assert _attr(_field(again, "name"), "value") == "王小明"
    assert _attr(_field(again, "scores.selective"), "value") == "70"
    assert _attr(_field(again, "start_date"), "value") == "2026-09-07"


async def test_text_is_escaped(aiohttp_client, app_factory):
    client = await aiohttp_client(app_factory())
    data = dict(FORM, name="Tom & 'Jerry'", age="3")
    _, page = await _errors(client, data)
    assert 'value="Tom &amp; &#39;Jerry&#39;"' in page


async def test_errors_of_pages_are_pages(aiohttp_client, app_factory, monkeypatch):
    app = app_factory()
    client = await aiohttp_client(app)
    for url, status, text in (
        ("/plans/not-a-token", 404, "找不到"),
        ("/no/such/page", 404, "找不到"),
        ("/?from=garbage", 404, "找不到"),
    ):
        resp = await client.get(url, headers=HTML)
        assert resp.status == status and resp.content_type == "text/html", url
        assert text in await resp.text()
    expired = app[STATE].sealer.seal(b"{}", int(time.time()) - 10)
    resp = await client.get(f"/plans/{expired}?lang=en", headers=HTML)
    assert resp.status == 410 and "expired" in await resp.text()
    # A bug is a page with a request id, never a trace or raw JSON.

    def broken(req):
        raise KeyError("bug")

    monkeypatch.setattr(handlers, "build_plan", broken)
    resp = await client.post("/plans", data=FORM, headers=HTML)
    assert resp.status == 500
    page = await resp.text()
    assert resp.content_type == "text/html"
    assert "Traceback" not in page and "KeyError" not in page and '{"error"' not in page
    assert resp.headers["X-Request-Id"] in page
    resp = await client.post(
        "/plans", data=b"\xff", headers=dict(HTML, **{"Content-Type": "application/json"})
    )
    assert resp.status == 400 and resp.content_type == "text/html"


async def test_check_while_typing(aiohttp_client, app_factory):
    client = await aiohttp_client(app_factory())
    resp = await client.post("/plans/check", data=dict(FORM, ui="en", age="30"))
    body = await resp.json()
    assert body == {"errors": {"age": "Age must be a whole number from 4 to 14."}}
    body = await (await client.post("/plans/check", data=FORM)).json()
    assert body["errors"] == {}
    assert re.fullmatch(r"预计大小 \d+\.\d MB，共 \d+ 个文件", body["estimate"])


async def test_busy_is_a_page_with_retry_after(aiohttp_client, app_factory, monkeypatch):
    from server.errors import Busy

    app = app_factory()
    client = await aiohttp_client(app)

    async def busy(req):
        raise Busy("no build slot", retry_after=7)

    monkeypatch.setattr(app[STATE], "archive_for_request", busy)
    resp = await client.post("/plans", data=dict(FORM, ui="en"), headers=HTML)
    assert resp.status == 503 and resp.content_type == "text/html"
    assert resp.headers["Retry-After"] == "7"
    assert "busy" in await resp.text()
    _check_page_headers(resp.headers)
