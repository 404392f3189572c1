"""The annotator's view, in a real browser: Label Studio on 127.0.0.1, Debian's Chromium driven by Playwright.

Checks what a rater meets: the instructions render their anchor thumbnails (captioned with score and source), the
photo, every control and Submit fit one screen at 1366x768 and 1440x900 without upscaling the photo, the chosen
values are visible, the side panels are hidden, a required row is enforced, and two tasks rated by clicks and by
keys plus one skip arrive through ``annotate import`` with exactly those values and the annotator's e-mail.

Skips, saying why, only where Chromium, Playwright or the Label Studio server cannot be had. No browser is
downloaded: ``chromium`` comes from the system (``apt-get install chromium``, as ``.ci/run`` does). Set
``ICAA_SCREENSHOT_DIR`` to keep the screenshots.
"""

from __future__ import annotations

import os
import re
import shutil
from pathlib import Path

import pandas as pd
import pytest
from PIL import Image

from icaa.pipeline.annotate import run_export, run_import
from labelstudio_server import TOKEN, Server, label_studio_binary, server_errors

pytestmark = [pytest.mark.server, pytest.mark.slow]

REPO_ROOT = Path(__file__).resolve().parents[1]
TITLE = "icaa browser"
EMAIL, PASSWORD = "admin@example.com", "Adm1nPass!"
VIEWPORTS = [(1366, 768), (1440, 900)]
HIGHLIGHT = "rgb(255, 214, 102)"   # .ant-radio-wrapper-checked in annotation.labelstudio.LAYOUT_CSS


@pytest.fixture(scope="module")
def chromium_path() -> str:
    pytest.importorskip("playwright.sync_api", reason="Playwright for Python is not installed (pip install "
                                                      "playwright; it is in the dev extra)")
    path = shutil.which("chromium") or shutil.which("chromium-browser")
    if path is None:
        pytest.skip("Chromium is not installed (apt-get install chromium; .ci/run installs it); no browser is "
                    "downloaded")
    return path


@pytest.fixture(scope="module")
def server(chromium_path, tmp_path_factory):
    binary = label_studio_binary()
    if binary is None:
        pytest.skip("Label Studio server not installed: create .venv-ls (python3 -m venv .venv-ls && "
                    ".venv-ls/bin/pip install label-studio) or set ICAA_LABEL_STUDIO_BIN")
    server = Server(binary, tmp_path_factory.mktemp("ls-browser"))
    server.start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def project(server):
    """A landscape (768x511) and a portrait (511x768) demo photo and a small one (240x160) to rate, in that
    order; two more demo photos as the anchor pool."""
    images = server.root / "imgs"
    images.mkdir()
    rated = ["lomiri_autumn_valley.jpg", "lomiri_dogs_window.jpg", "small.jpg"]
    pool = ["lomiri_bridge_sky.jpg", "lomiri_dandelions.jpg"]
    for name in rated[:2] + pool:
        shutil.copy(REPO_ROOT / "data" / "demo" / name, images / name)
    Image.new("RGB", (240, 160), (200, 80, 40)).save(images / "small.jpg", quality=90)
    selection = pd.DataFrame({"image_id": rated, "category": "demo", "coarse_score": [3.0, 5.5, 7.0],
                              "score_bin": [2, 5, 6]})
    selection.to_parquet(server.root / "selection.parquet")
    pd.DataFrame({"image_id": pool, "coarse_score": [4.1, 7.9]}).to_parquet(server.root / "pool.parquet")
    summary = run_export(server.root / "selection.parquet", images_root=images, local_files=True,
                         document_root=server.root, anchor_pool=server.root / "pool.parquet", project_title=TITLE,
                         url=server.url, api_key=TOKEN)
    assert server_errors((server.root / "ls.log").read_text(errors="replace")) == []   # export failed nothing
    return {"summary": summary, "rated": rated, "pool": pool, "images": images}


def _screenshot(page, tmp_path: Path, name: str) -> None:
    path = tmp_path / f"{name}.png"
    page.screenshot(path=str(path))
    keep = os.environ.get("ICAA_SCREENSHOT_DIR")
    if keep:
        Path(keep).mkdir(parents=True, exist_ok=True)
        shutil.copy(path, Path(keep) / path.name)


def _open_labeling(page, server, project_id: int) -> None:
    page.goto(f"{server.url}/projects/{project_id}/data?labeling=1")
    page.locator("img[alt=image]").first.wait_for(state="visible", timeout=60_000)


def _close_instructions(page) -> None:
    dialog = page.get_by_text("Labeling Instructions")
    if dialog.is_visible():
        page.keyboard.press("Escape")
        dialog.wait_for(state="hidden", timeout=10_000)


def _choice(page, name_index: int, value: str):
    """The label of ``value`` in the n-th row of choices (0 colour, 1 overall, 2 confidence)."""
    row = page.locator(".lsf-choices").nth(name_index)
    return row.locator(".ant-radio-wrapper").filter(has_text=re.compile(rf"^{re.escape(value)}\s*\[")).first


def _task_number(page) -> int:
    """The task id Label Studio shows at the bottom left ("#17": the id is the element's first text node)."""
    text = page.locator(".lsf-current-task__task-id").first.evaluate("e => e.firstChild.textContent")
    return int(text.strip().lstrip("#"))


def _wait_for_next_task(page, task_id: int) -> None:
    """Until Label Studio has left task ``task_id`` (another task, or none left)."""
    page.wait_for_function(f"""() => {{ const e = document.querySelector('.lsf-current-task__task-id');
        return !e || e.firstChild.textContent.trim() !== '{task_id}'; }}""", timeout=30_000)


def _drawn_photo(page) -> dict:
    """Where the photo is drawn (Label Studio paints it on a canvas): the box of the canvas's non-transparent
    pixels in CSS px, and the photo's own size."""
    page.wait_for_function("() => { const i = document.querySelector('img[alt=image]'); "
                           "return i && i.complete && i.naturalWidth > 0 }", timeout=30_000)
    page.wait_for_timeout(300)
    return page.evaluate("""() => {
        const img = document.querySelector('img[alt=image]');
        const canvas = document.querySelector('.konvajs-content canvas');
        const d = canvas.getContext('2d').getImageData(0, 0, canvas.width, canvas.height).data;
        let x0 = Infinity, y0 = Infinity, x1 = -1, y1 = -1;
        for (let y = 0; y < canvas.height; y++) for (let x = 0; x < canvas.width; x++) {
            if (d[(y * canvas.width + x) * 4 + 3] > 0) { x0 = Math.min(x0, x); x1 = Math.max(x1, x);
                                                         y0 = Math.min(y0, y); y1 = Math.max(y1, y); } }
        const r = canvas.getBoundingClientRect(), k = r.width / canvas.width;
        return {x: r.x + x0 * k, y: r.y + y0 * k, width: (x1 - x0 + 1) * k, height: (y1 - y0 + 1) * k,
                natural: [img.naturalWidth, img.naturalHeight]};
    }""")


def _check_one_screen(page, width: int, height: int, tmp_path: Path, name: str) -> dict:
    """The photo (at most its own size), the 25 choices and Submit on one screen, no page scroll, no side panel."""
    photo = _drawn_photo(page)
    _screenshot(page, tmp_path, name)
    natural_width, natural_height = photo["natural"]
    assert _within(photo, width, height), (name, photo)
    assert photo["width"] <= natural_width + 1 and photo["height"] <= natural_height + 1, (name, photo)
    # shrunk only as far as the panel requires: the full size, or touching the width or the height limit
    assert photo["width"] >= min(natural_width, 300) - 1, (name, photo)
    controls = page.locator(".lsf-choices .ant-radio-wrapper")
    assert controls.count() == 25
    for k in range(25):
        assert _within(controls.nth(k).bounding_box(), width, height), (name, k)
    submit = page.get_by_test_id("bottombar-submit-button")
    assert submit.is_visible() and _within(submit.bounding_box(), width, height), name
    assert page.evaluate("() => document.scrollingElement.scrollHeight <= window.innerHeight"), name
    for panel in ("Relations", "Regions", "History"):
        assert not any(p.is_visible() for p in page.get_by_text(panel, exact=True).all()), (name, panel)
    return photo


def _within(box: dict, width: int, height: int) -> bool:
    return box["x"] >= 0 and box["y"] >= 0 and box["x"] + box["width"] <= width + 0.5 \
        and box["y"] + box["height"] <= height + 0.5


def test_a_rater_sees_one_screen_per_task_and_ratings_arrive_as_clicked(server, project, chromium_path, tmp_path):
    from playwright.sync_api import sync_playwright
    summary = project["summary"]
    assert summary["anchors"] == 2 and summary["tasks_added"] == 3
    from label_studio_sdk import LabelStudio
    client = LabelStudio(base_url=server.url, api_key=TOKEN)
    tasks = {t.id: t.data["image_id"] for t in client.tasks.list(project=summary["project_id"], page_size=100).items}
    assert sorted(tasks.values()) == sorted(project["rated"])
    assert not set(tasks.values()) & set(project["pool"])        # no anchor is a task

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium_path, args=["--no-sandbox"])
        page = browser.new_page(viewport={"width": VIEWPORTS[0][0], "height": VIEWPORTS[0][1]})
        page.goto(f"{server.url}/user/login/")
        page.fill("input[name=email]", EMAIL)
        page.fill("input[name=password]", PASSWORD)
        page.click("button[type=submit]")
        page.wait_for_load_state("networkidle", timeout=60_000)
        assert "/user/login" not in page.url, "the login failed"

        # --- instructions: thumbnails at their width attribute, each captioned with its score and source
        _open_labeling(page, server, summary["project_id"])
        modal = page.locator(".ant-modal-content, [class*=modal]").filter(has_text="Labeling Instructions").last
        modal.wait_for(state="visible", timeout=30_000)
        page.wait_for_function("() => [...document.querySelectorAll('img[alt^=anchor]')].every(i => i.complete && "
                               "i.naturalWidth > 0)", timeout=30_000)
        _screenshot(page, tmp_path, "instructions_1366x768")
        anchors = page.locator("img[alt^=anchor]")
        assert anchors.count() == 2
        for k in range(2):
            box = anchors.nth(k).bounding_box()
            assert 100 <= box["width"] <= 200 and _within(box, *VIEWPORTS[0]), box
            assert anchors.nth(k).evaluate("i => i.naturalWidth") > 0
        text = anchors.first.locator("xpath=ancestor::table/..").inner_text()
        assert "4 (coarse score 4.10)" in text and "8 (coarse score 7.90)" in text, text
        assert "expert" not in text and "Keys: colour 1-9 and 0" in text
        sources = anchors.evaluate_all("imgs => imgs.map(i => i.getAttribute('src'))")
        assert all(any(name in src for name in project["pool"]) for src in sources), sources
        _close_instructions(page)

        # --- one screen per task at both sizes
        for width, height in VIEWPORTS[::-1]:
            page.set_viewport_size({"width": width, "height": height})
            _open_labeling(page, server, summary["project_id"])
            _close_instructions(page)
            _check_one_screen(page, width, height, tmp_path, f"task_{width}x{height}")

        # --- task 1 (landscape) by clicks; Submit refuses while the confidence row is unset
        first_task = _task_number(page)
        assert tasks[first_task] == project["rated"][0]
        _choice(page, 0, "7").click()
        _choice(page, 1, "5").click()
        chosen = _choice(page, 0, "7")
        assert chosen.evaluate("e => getComputedStyle(e).backgroundColor") == HIGHLIGHT
        assert _choice(page, 0, "8").evaluate("e => getComputedStyle(e).backgroundColor") != HIGHLIGHT
        assert page.locator(".ant-radio-wrapper-checked").count() == 2
        page.get_by_test_id("bottombar-submit-button").click()
        page.get_by_text(re.compile("confidence", re.I)).filter(has_text=re.compile("required", re.I)).first \
            .wait_for(state="visible", timeout=10_000)
        _screenshot(page, tmp_path, "required_confidence")
        assert client.tasks.get(id=first_task).total_annotations == 0
        page.keyboard.press("Escape")
        _choice(page, 0, "7").click()                 # a second click keeps the choice
        assert page.locator(".ant-radio-wrapper-checked").count() == 2
        _choice(page, 2, "0.75").click()
        _screenshot(page, tmp_path, "task1_rated")
        page.keyboard.press("Control+Enter")           # submits with the focus still on the clicked choice
        _wait_for_next_task(page, first_task)
        page.wait_for_function("() => document.querySelectorAll('.ant-radio-wrapper-checked').length === 0",
                               timeout=30_000)

        # --- task 2 (portrait, drawn less tall than the window) by keys: colour 3, overall W (= 2), confidence
        # D (= 0.5), Ctrl+Enter
        second_task = _task_number(page)
        assert tasks[second_task] == project["rated"][1]
        portrait = _check_one_screen(page, *VIEWPORTS[0], tmp_path, "portrait_1366x768")
        assert portrait["height"] < 768 * 0.85 and portrait["width"] < portrait["height"]
        def chosen_values() -> list[str]:
            return [page.locator(".lsf-choices").nth(k).locator(".ant-radio-wrapper-checked").inner_text()
                    .split("[")[0].strip() for k in range(3)]

        for key in ("8", "w", "d", "3"):               # a second key in a row replaces the first (8 -> 3)
            page.keyboard.press(key)
        page.wait_for_function("() => document.querySelectorAll('.ant-radio-wrapper-checked').length === 3",
                               timeout=10_000)
        assert chosen_values() == ["3", "2", "0.5"]
        # Label Studio's keys toggle: the key of the chosen value clears it (the instructions say so); a click
        # does not
        page.keyboard.press("3")
        page.wait_for_function("() => document.querySelectorAll('.ant-radio-wrapper-checked').length === 2",
                               timeout=10_000)
        page.keyboard.press("3")
        page.wait_for_function("() => document.querySelectorAll('.ant-radio-wrapper-checked').length === 3",
                               timeout=10_000)
        assert chosen_values() == ["3", "2", "0.5"]
        page.keyboard.press("Control+Enter")
        _wait_for_next_task(page, second_task)

        # --- task 3 (small) skipped; it is drawn at its own size, not stretched to the panel
        third_task = _task_number(page)
        assert tasks[third_task] == "small.jpg"
        small = _check_one_screen(page, *VIEWPORTS[0], tmp_path, "small_1366x768")
        assert small["natural"] == [240, 160]
        assert 239 <= small["width"] <= 241 and 159 <= small["height"] <= 161, small
        page.get_by_test_id("bottombar-skip-button").click()
        _wait_for_next_task(page, third_task)
        _screenshot(page, tmp_path, "after_skip")
        browser.close()

    out = tmp_path / "ratings.parquet"
    log_before_import = len((server.root / "ls.log").read_text(errors="replace"))
    result = run_import(out, project_title=TITLE, url=server.url, api_key=TOKEN)
    # no request of the import failed on the server (the rater's last "next task" logs Label Studio's own
    # "There are no tasks" traceback, which is not ours)
    assert server_errors((server.root / "ls.log").read_text(errors="replace")[log_before_import:]) == []
    assert result["annotations_valid"] == 2 and result["rejects_by_reason"] == {"cancelled": 1}
    table = pd.read_parquet(out).set_index("task_id")
    assert table.loc[first_task, ["image_id", "rater", "color", "overall", "confidence"]].tolist() == \
        [tasks[first_task], EMAIL, 7, 5, 0.75]
    assert table.loc[second_task, ["image_id", "rater", "color", "overall", "confidence"]].tolist() == \
        [tasks[second_task], EMAIL, 3, 2, 0.5]
    rejects = pd.read_parquet(tmp_path / "annotation_rejects.parquet")
    assert rejects[["task_id", "reason", "rater"]].values.tolist() == [[third_task, "cancelled", EMAIL]]
