"""The /ui page in Debian's headless Chromium, driven by Playwright (no browser download).

Skipped, saying why, where /usr/bin/chromium is absent (`.ci/run` installs it). Screenshots
go to test-artifacts/ (git-ignored).
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests import a2a
from tests.proxy import CuttingProxy
from tests.servers import ROOT, Process

CHROMIUM = Path("/usr/bin/chromium")
ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
ARTIFACTS = ROOT / "test-artifacts"

pytestmark = pytest.mark.skipif(
    not CHROMIUM.exists() and shutil.which("chromium") is None,
    reason="Chromium is not installed (apt-get install chromium; .ci/run does it)",
)

# Records every percentage the page shows, in order, as it shows it.
WATCH_PERCENT = """() => {
  window.percents = [];
  new MutationObserver(() => {
    const text = document.getElementById('percent').textContent;
    if (text && window.percents[window.percents.length - 1] !== text) window.percents.push(text);
  }).observe(document.getElementById('percent'), {childList: true, characterData: true,
                                                  subtree: true});
}"""


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    executable = CHROMIUM if CHROMIUM.exists() else Path(str(shutil.which("chromium")))
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(executable), args=ARGS)
        yield browser
        browser.close()


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    context = browser.new_context(viewport={"width": 1200, "height": 820})
    page = context.new_page()
    page.set_default_timeout(20_000)
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    yield page
    context.close()
    assert not errors, errors


def open_ui(page: Any, base: str, hash_: str = "agent=scripted") -> None:
    page.goto(f"{base}/ui/#{hash_}")
    page.wait_for_selector("#agent option", state="attached")


def send(page: Any, text: str) -> str:
    page.fill("#text", text)
    page.click("#send")
    page.wait_for_function("() => location.hash.includes('task=')")
    return str(page.evaluate("() => new URLSearchParams(location.hash.slice(1)).get('task')"))


def test_send_watch_progress_and_artifact_to_completion(page: Any, gateway: Process) -> None:
    open_ui(page, gateway.address)
    assert page.input_value("#agent") == "scripted"
    page.evaluate(WATCH_PERCENT)
    task_id = send(page, "steps 4 150")
    page.wait_for_selector("#state[data-state=completed]")
    assert page.evaluate("window.percents") == ["25%", "50%", "75%", "100%"]
    assert page.text_content("#percent") == "100%"
    assert page.text_content("#status-line") == "done"
    assert page.text_content("#artifacts pre") == "part0;part1;part2;"
    assert page.get_attribute(".artifact", "data-streaming") == "false"
    assert page.is_disabled("#cancel")
    page.wait_for_selector(f"#tasks a[data-task-id='{task_id}'] .badge[data-state=completed]")
    page.wait_for_timeout(400)  # let the bar's width transition finish for the picture
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "ui.png"), full_page=True)
    page.set_viewport_size({"width": 390, "height": 844})
    assert page.evaluate("document.documentElement.scrollWidth") <= 390  # no sideways scroll
    page.screenshot(path=str(ARTIFACTS / "ui-phone.png"), full_page=True)


def test_a_cut_stream_reconnects_without_a_missing_or_repeated_chunk(
    page: Any, gateway: Process
) -> None:
    with CuttingProxy(gateway.address, cut_after=2500) as proxy:
        open_ui(page, proxy.url)
        task_id = send(page, "steps 16 150")
        page.wait_for_selector("#conn[data-state=reconnecting]")
        assert page.text_content("#conn") == "reconnecting…"
        page.wait_for_selector("#state[data-state=completed]", timeout=30_000)
        assert proxy.cuts_done == 1
    ui = page.evaluate("window.a2aUi")
    assert ui["reconnects"] >= 1
    assert ui["duplicates"] == 0
    seen = ui["seen"]
    last = len(
        a2a.events(f"{gateway.address}/agents/scripted/tasks/{task_id}/events?lastEventId=0")
    )
    assert seen == list(range(seen[0], last + 1)), seen  # every event after the snapshot, once
    assert page.text_content("#artifacts pre") == "part0;part1;part2;"
    assert page.text_content("#percent") == "100%"


def test_cancel(page: Any, gateway: Process) -> None:
    open_ui(page, gateway.address)
    task_id = send(page, "hang")
    page.wait_for_selector("#status-line:has-text('working forever')")
    page.wait_for_selector("#conn[data-state=live]")
    page.click("#cancel")
    page.wait_for_selector("#state[data-state=canceled]")
    assert page.text_content("#status-line") == "Task canceled."
    task = a2a.rpc(gateway.address + "/agents/scripted/", "GetTask", {"id": task_id})["result"]
    assert task["status"]["state"] == "TASK_STATE_CANCELED"


def test_a_failed_task_shows_why(page: Any, gateway: Process) -> None:
    open_ui(page, gateway.address)
    send(page, "error-midstream")
    page.wait_for_selector("#state[data-state=failed]")
    failure = page.text_content("#failure")
    assert failure == "Agent 'scripted' returned INTERNAL: the model crashed"
    assert page.is_visible("#failure")


def test_answering_an_input_required_task(page: Any, gateway: Process) -> None:
    open_ui(page, gateway.address)
    send(page, "ask")
    page.wait_for_selector("#answer-form:not([hidden])")
    assert page.text_content("#question") == "say more"
    page.fill("#answer", "blue")
    page.click("#answer-form button")
    page.wait_for_selector("#state[data-state=completed]")
    assert page.text_content("#status-line") == "answered: blue"
    assert page.is_hidden("#answer-form")


def test_an_unknown_task_in_the_url_is_not_found(page: Any, gateway: Process) -> None:
    open_ui(page, gateway.address, "agent=scripted&task=no-such-task")
    page.wait_for_selector("#notfound:not([hidden])")
    assert page.text_content("#notfound h2") == "Task not found"
    assert page.text_content("#notfound-id") == "no-such-task"
    assert page.is_hidden("#task")


def test_a_task_in_the_url_opens_with_its_artifacts(page: Any, gateway: Process) -> None:
    done = a2a.rpc(
        gateway.address + "/agents/scripted/", "SendMessage", {"message": a2a.user_message("steps")}
    )["result"]["task"]
    open_ui(page, gateway.address, f"agent=scripted&task={done['id']}")
    page.wait_for_selector("#state[data-state=completed]")
    assert page.text_content("#artifacts pre") == "part0;part1;part2;"
    assert page.text_content("#percent") == "100%"


def test_ui_redirects_to_the_page(gateway: Process) -> None:
    import httpx

    response = httpx.get(gateway.address + "/ui", follow_redirects=True, timeout=10)
    assert response.status_code == 200
    assert "<title>A2A gateway</title>" in response.text
    assert httpx.get(gateway.address + "/ui/ui.js", timeout=10).status_code == 200


def test_with_auth_on_the_page_asks_for_a_token_then_streams_with_it(
    page: Any, auth_gateway: Process
) -> None:
    from tests.conftest import API_KEYS

    open_ui(page, auth_gateway.address)
    page.fill("#text", "steps 2 50")
    page.click("#send")
    page.wait_for_function("() => document.getElementById('send-error').textContent.length > 0")
    assert "requires a token" in (page.text_content("#send-error") or "")
    page.fill("#token", API_KEYS["alice"])
    page.dispatch_event("#token", "change")
    send(page, "steps 2 50")
    page.wait_for_selector("#state[data-state=completed]")
    assert page.text_content("#artifacts pre") == "part0;part1;part2;"


# --- files in, pictures out (docs/use-cases.md) ------------------------------------------

# Records every status line and every picture the page shows, in order.
WATCH_FILES = """() => {
  window.statusLines = [];
  window.pictures = [];
  new MutationObserver(() => {
    const text = document.getElementById('status-line').textContent;
    if (text && window.statusLines[window.statusLines.length - 1] !== text) {
      window.statusLines.push(text);
    }
    for (const img of document.querySelectorAll('#artifacts img')) {
      if (window.pictures[window.pictures.length - 1] !== img.src) window.pictures.push(img.src);
    }
  }).observe(document.body, {childList: true, characterData: true, subtree: true,
                             attributes: true, attributeFilter: ['src']});
}"""

DROP_FILE = """([name, type, text]) => {
  const transfer = new DataTransfer();
  transfer.items.add(new File([text], name, {type}));
  document.getElementById('compose').dispatchEvent(
    new DragEvent('drop', {dataTransfer: transfer, bubbles: true, cancelable: true}));
}"""


def test_upload_a_pdf_and_watch_page_progress_reach_100_with_the_report(
    page: Any, use_case_gateway: Process
) -> None:
    from tests import samples

    open_ui(page, use_case_gateway.address, "agent=document-analysis")
    page.wait_for_function("() => document.getElementById('file').accept.includes('pdf')")
    page.evaluate(WATCH_PERCENT)
    page.evaluate(WATCH_FILES)
    pdf = {"name": "report.pdf", "mimeType": "application/pdf", "buffer": samples.text_pdf(6)}
    page.set_input_files("#file", files=[pdf])
    page.wait_for_selector("#attachments .chip[data-name='report.pdf']")
    page.click("#send")
    page.wait_for_selector("#state[data-state=completed]")
    assert page.text_content("#percent") == "100%"
    percents = page.evaluate("window.percents")
    assert percents[-1] == "100%"
    assert percents == sorted(percents, key=lambda p: int(p.rstrip("%")))
    lines = page.evaluate("window.statusLines")
    assert [line for line in lines if line.startswith("Reading page")] == [
        f"Reading page {n} of 6" for n in range(1, 7)
    ]
    report = page.text_content("#artifacts pre") or ""
    assert report.startswith("Document analysis of report.pdf (6 pages)\nreport.pdf pages 1-5: ")
    assert "Top words: streams (12)" in report
    assert page.is_hidden("#attachments")  # sent, so no longer attached
    page.wait_for_selector("#tasks .what:has-text('report.pdf')")
    page.wait_for_timeout(400)  # let the bar's width transition finish for the picture
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "ui-pdf.png"), full_page=True)


def test_a_dropped_file_is_sent_as_a_file_part(page: Any, use_case_gateway: Process) -> None:
    open_ui(page, use_case_gateway.address, "agent=document-analysis")
    page.evaluate(DROP_FILE, ["notes.txt", "text/plain", "Dropped files stream too."])
    page.wait_for_selector("#attachments .chip[data-name='notes.txt']")
    page.click("#send")
    page.wait_for_selector("#state[data-state=completed]")
    assert (page.text_content("#artifacts pre") or "").startswith(
        "Document analysis of notes.txt (1 page)\n"
    )


def test_the_image_agent_picture_sharpens_in_place_and_ends_decodable(
    page: Any, use_case_gateway: Process
) -> None:
    open_ui(page, use_case_gateway.address, "agent=image-render")
    page.evaluate(WATCH_FILES)
    send(page, "seahorse valley 320x200")
    page.wait_for_selector("#state[data-state=completed]")
    pictures = page.evaluate("window.pictures")
    assert len(set(pictures)) >= 3, pictures  # the <img> content changed as versions came
    assert page.locator("#artifacts img").count() == 1  # one element, replaced in place
    size = page.evaluate(
        """async () => {
          const img = document.querySelector('#artifacts img');
          await img.decode();
          return [img.naturalWidth, img.naturalHeight];
        }"""
    )
    assert size == [320, 200]
    assert page.get_attribute(".artifact", "data-version") == "5"
    link = page.locator("#artifacts a.download")
    assert link.get_attribute("download") == "fractal.png"
    assert (link.text_content() or "").startswith("Download fractal.png (")
    with page.expect_download() as download:
        link.click()
    saved = download.value.path()
    assert saved is not None
    from PIL import Image

    with Image.open(saved) as image:
        assert image.size == (320, 200)
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "ui-image.png"), full_page=True)
    page.set_viewport_size({"width": 390, "height": 844})
    assert page.evaluate("document.documentElement.scrollWidth") <= 390  # no sideways scroll
    page.screenshot(path=str(ARTIFACTS / "ui-image-phone.png"), full_page=True)


def test_an_upload_over_the_limit_shows_the_gateways_error(
    page: Any, use_case_agents: dict[str, Process]
) -> None:
    from tests.servers import start_gateway

    agents = {name: agent.address for name, agent in use_case_agents.items()}
    gateway = start_gateway(agents, "--max-body-bytes", "65536")
    try:
        open_ui(page, gateway.address, "agent=document-analysis")
        big = {"name": "big.pdf", "mimeType": "application/pdf", "buffer": b"%PDF-" * 20_000}
        page.set_input_files("#file", files=[big])
        page.wait_for_selector("#attachments .chip[data-name='big.pdf']")
        page.click("#send")
        page.wait_for_function("() => document.getElementById('send-error').textContent")
        assert page.text_content("#send-error") == "Invalid request: the body exceeds 65536 bytes"
        assert page.is_visible("#attachments .chip")  # still attached: nothing was sent
    finally:
        gateway.stop()
