"""Pages the course makes, opened as a reader would in headless Chromium (Debian's, driven by
Playwright) with nothing but the file itself: every request for anything else is refused, as on a
machine without a network. axe-core (bundled by axe-playwright-python) checks what is drawn."""
import contextlib

CHROMIUM = "/usr/bin/chromium"
# axe-core's impacts: "critical" and "serious" block or mislead a reader; the course makes none
BLOCKING = {"critical", "serious"}


@contextlib.contextmanager
def offline_browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=["--headless=new", "--no-sandbox"])
        try:
            yield browser
        finally:
            browser.close()


def open_offline(browser, path, width=1200, height=900):
    page = browser.new_page(viewport={"width": width, "height": height})
    page.route("**/*", lambda route: route.abort() if not route.request.url.startswith("file:")
               else route.continue_())
    page.goto(path.as_uri())
    return page


def blocking_violations(page):
    """axe-core's critical and serious violations on the page, one line each with an example node."""
    from axe_playwright_python.sync_playwright import Axe

    found = Axe().run(page).response["violations"]
    return [f"{v['id']} ({v['impact']}, {len(v['nodes'])} nodes): {v['help']}; e.g. {v['nodes'][0]['html'][:160]}"
            for v in found if v["impact"] in BLOCKING]
