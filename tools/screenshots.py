"""Make the README's screenshots: ``docs/form.png`` and ``docs/plan.png``.

Runs the real server on 127.0.0.1 (no library: the built-in worksheets) and
Debian's Chromium through Playwright, fills the Chinese form by its labels as
the browser tests do, and captures the form and the plan page it leads to.

    .venv/bin/python tools/screenshots.py
"""

from __future__ import annotations

import sys
from pathlib import Path

from playwright.sync_api import sync_playwright

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.browser.live import CHROMIUM, LiveServer  # noqa: E402

FIELDS = {
    "姓名": "王小明",
    "年龄": "8",
    "开始日期": "2026-09-07",
    "注意广度": "40",
    "注意稳定性": "55",
    "注意选择性": "70",
    "工作记忆": "62",
}


def main() -> int:
    docs = ROOT / "docs"
    docs.mkdir(exist_ok=True)
    with LiveServer(None) as server, sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        page = browser.new_page(locale="zh-CN", viewport={"width": 1000, "height": 900})
        page.goto(server.url + "/")
        for label, value in FIELDS.items():
            page.get_by_label(label, exact=True).fill(value)
        page.wait_for_function("() => document.getElementById('estimate').textContent !== ''")
        page.screenshot(path=str(docs / "form.png"), full_page=True)
        page.get_by_role("button", name="生成方案").click()
        page.wait_for_url("**/plans/**")
        page.wait_for_function(
            "() => [...document.querySelectorAll('.previews img')]"
            ".every(i => i.complete && i.naturalWidth > 0)"
        )
        page.wait_for_timeout(500)  # the overview's frame
        page.screenshot(
            path=str(docs / "plan.png"), clip={"x": 0, "y": 0, "width": 1000, "height": 1500}
        )
        browser.close()
    for name in ("form.png", "plan.png"):
        print(docs / name, (docs / name).stat().st_size, "bytes")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
