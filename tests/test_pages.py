"""The front door's pages in a real browser (headless Chromium through selenium, Debian's chromium and
chromedriver; nothing is downloaded): the draw-a-digit page at / read by the session's front door and its
TorchServe, and /docs's Swagger UI trying the API out.

Screenshots of / after a reading (desktop 1280x900, phone 390x844, whole page) go to $PAGE_SCREENSHOTS when
it is set, else to the test's tmp_path."""

import base64
import os
from pathlib import Path

import pytest
import requests
from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.actions import interaction
from selenium.webdriver.common.actions.action_builder import ActionBuilder
from selenium.webdriver.common.actions.pointer_input import PointerInput
from selenium.webdriver.common.by import By
from selenium.webdriver.support.select import Select
from selenium.webdriver.support.ui import WebDriverWait

from tests.conftest import IMAGES, on_path, require_tool

# A wait for a condition, long enough for 2 busy cores: it fails only when the condition never comes.
PATIENCE_S = 60
DESKTOP = {"width": 1280, "height": 900, "mobile": False}
PHONE = {"width": 390, "height": 844, "mobile": True}
# A 7 as a person draws it, in fractions of the pad: the top bar, then down to the left, in one stroke.
SEVEN = [[(0.22, 0.22), (0.5, 0.21), (0.76, 0.22), (0.66, 0.42), (0.56, 0.62), (0.48, 0.82)]]
POINTERS = {
    "mouse": interaction.POINTER_MOUSE,
    "pen": interaction.POINTER_PEN,
    "touch": interaction.POINTER_TOUCH,
}


@pytest.fixture(scope="module")
def browser():
    """Headless Chromium with its console kept (goog:loggingPrefs), one for the module."""
    for program in ("chromium", "chromedriver"):
        require_tool(program, on_path(program))
    options = webdriver.ChromeOptions()
    options.binary_location = on_path("chromium")()
    for argument in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage"):  # --no-sandbox: run as root
        options.add_argument(argument)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    # A driver path given: Selenium Manager is skipped, so nothing is looked up or downloaded.
    driver = webdriver.Chrome(service=Service(on_path("chromedriver")()), options=options)
    driver.set_page_load_timeout(PATIENCE_S)
    try:
        yield driver
    finally:
        driver.quit()


@pytest.fixture
def screenshots(tmp_path) -> Path:
    folder = Path(os.environ.get("PAGE_SCREENSHOTS") or tmp_path)
    folder.mkdir(parents=True, exist_ok=True)
    return folder


class DrawPage:
    """The draw-a-digit page as a person uses it: open() it at a screen size, type the token, draw or pick a
    photo, read what it shows. One reading per open(): answer() waits for the first one."""

    def __init__(self, driver, url: str):
        self.driver = driver
        self.url = url

    def open(self, screen: dict = DESKTOP) -> "DrawPage":
        # Exact CSS viewports (a window size would include the browser's own frame).
        self.driver.execute_cdp_cmd("Emulation.setDeviceMetricsOverride", {**screen, "deviceScaleFactor": 1})
        self.driver.get(f"{self.url}/")
        self.driver.execute_script("sessionStorage.clear()")  # no token left from an earlier test
        self.driver.refresh()
        return self

    def element(self, element_id: str):
        return self.driver.find_element(By.ID, element_id)

    def type_token(self, token: str) -> None:
        field = self.element("token")
        field.clear()
        field.send_keys(token)

    def draw(self, strokes, pointer: str = "mouse") -> None:
        """Each stroke: pointer down at its first point, moves along the rest, up; points are fractions of
        the pad (x from the left, y from the top)."""
        pad = self.element("pad")
        width, height = pad.rect["width"], pad.rect["height"]
        actions = ActionBuilder(self.driver, mouse=PointerInput(POINTERS[pointer], pointer), duration=50)
        for stroke in strokes:
            # Offsets count from the pad's centre (WebDriver's element origin).
            offsets = [((x - 0.5) * width, (y - 0.5) * height) for x, y in stroke]
            actions.pointer_action.move_to(pad, *offsets[0]).pointer_down()
            for offset in offsets[1:]:
                actions.pointer_action.move_to(pad, *offset)
            actions.pointer_action.pointer_up()
        actions.perform()

    def read(self) -> str:
        self.element("read").click()
        return self.answer()

    def pick_photo(self, path: Path) -> str:
        self.element("photo").send_keys(str(path))
        return self.answer()

    def answer(self) -> str:
        """ "read" or "refused", once the page shows one."""
        result = self.element("result")
        WebDriverWait(self.driver, PATIENCE_S).until(
            lambda _: result.get_attribute("data-state") in ("read", "refused"),
            "the page never showed a reading or a refusal",
        )
        return result.get_attribute("data-state")

    def digit(self) -> str:
        return self.element("digit").text

    def bars(self) -> list:
        """The ten bars as shown: (digit, probability, drawn width in px, is the winner)."""
        return [
            (
                int(row.get_attribute("data-digit")),
                float(row.get_attribute("data-probability")),
                row.find_element(By.CLASS_NAME, "bar-fill").rect["width"],
                "winner" in row.get_attribute("class").split(),
            )
            for row in self.element("bars").find_elements(By.TAG_NAME, "li")
        ]

    def refusal(self) -> tuple:
        """(status line, message) as shown, the message's text exactly."""
        return self.element("refusal-status").text, self.element("refusal-message").get_attribute("textContent")

    def pad_png(self) -> bytes:
        """The pad's picture as the page sends it (canvas.toBlob's PNG, the same encoder)."""
        data_url = self.driver.execute_script("return document.getElementById('pad').toDataURL('image/png')")
        return base64.b64decode(data_url.split(",", 1)[1])

    def screenshot(self, path: Path) -> None:
        """The whole page, below the fold too, at the current screen size."""
        size = self.driver.execute_cdp_cmd("Page.getLayoutMetrics", {})["cssContentSize"]
        clip = {"x": 0, "y": 0, "width": size["width"], "height": size["height"], "scale": 1}
        shot = self.driver.execute_cdp_cmd("Page.captureScreenshot", {"captureBeyondViewport": True, "clip": clip})
        path.write_bytes(base64.b64decode(shot["data"]))


@pytest.fixture
def page(browser, front_door) -> DrawPage:
    browser.get_log("browser")  # drained: what a test finds there is its own
    return DrawPage(browser, front_door.url)


def refusal_of(front_door, png: bytes, token: str) -> dict:
    """The API's own answer to these bytes, asked directly: what the page must show."""
    response = requests.post(
        f"{front_door.url}/predictions/mnist",
        data=png,
        headers={"Authorization": f"Bearer {token}", "Content-Type": "image/png"},
        timeout=PATIENCE_S,
    )
    assert not response.ok, response.text
    return {"status": response.status_code, **response.json()}


def assert_shows_digit(page: DrawPage, digit: int) -> None:
    assert page.digit() == str(digit)
    bars = page.bars()
    assert [shown for shown, *_ in bars] == list(range(10))
    (winner,) = [shown for shown, _, _, is_winner in bars if is_winner]
    assert winner == digit
    widths = {shown: width for shown, _, width, _ in bars}
    assert all(widths[digit] > width for shown, width in widths.items() if shown != digit), widths
    probabilities = [probability for _, probability, _, _ in bars]
    assert max(probabilities) == probabilities[digit] and sum(probabilities) == pytest.approx(1, abs=1e-4)


@pytest.mark.parametrize("pointer", ["mouse", "pen"])
def test_a_seven_drawn_is_read_as_seven_with_the_longest_bar(page, front_door, pointer, screenshots):
    page.open(DESKTOP)
    page.type_token(front_door.token)
    page.draw(SEVEN, pointer)
    assert page.read() == "read", page.refusal()
    assert_shows_digit(page, 7)
    page.screenshot(screenshots / f"page-desktop-1280x900-{pointer}.png")


def test_on_a_phone_a_seven_drawn_with_a_finger_is_read_and_the_page_fits(page, front_door, screenshots):
    page.open(PHONE)
    page.type_token(front_door.token)
    page.draw(SEVEN, "touch")
    assert page.read() == "read", page.refusal()
    assert_shows_digit(page, 7)
    # The answer is brought on screen: below the pad, it would otherwise be out of sight.
    in_view = "const box = document.getElementById('answer').getBoundingClientRect(); return [box.top, box.bottom]"
    top, bottom = page.driver.execute_script(in_view)
    assert 0 <= top and bottom <= PHONE["height"], (top, bottom)
    # Nothing wider than the phone's screen, and every button big enough for a fingertip.
    assert page.driver.execute_script("return document.documentElement.scrollWidth") <= PHONE["width"]
    for target in ("clear", "read", "token"):
        assert page.element(target).rect["height"] >= 44, target
    assert page.driver.find_element(By.CSS_SELECTOR, "label[for=photo]").rect["height"] >= 44
    page.screenshot(screenshots / "page-phone-390x844.png")


def test_a_photo_picked_is_sent_as_it_is_and_read(page, front_door):
    page.open()
    page.type_token(front_door.token)
    assert page.pick_photo(IMAGES / "two_on_paper.jpg") == "read", page.refusal()
    assert_shows_digit(page, 2)


def test_a_cleared_pad_read_shows_the_api_s_refusal_as_it_is_worded(page, front_door):
    page.open()
    page.type_token(front_door.token)
    page.draw(SEVEN)
    page.element("clear").click()
    expected = refusal_of(front_door, page.pad_png(), front_door.token)
    assert (expected["status"], expected["type"]) == (422, "NoDigitFound")
    assert page.read() == "refused"
    assert page.refusal() == ("422 NoDigitFound", expected["message"])
    assert not page.element("digit").is_displayed() and not page.element("bars").is_displayed()


def test_a_wrong_token_shows_the_401_and_puts_the_cursor_in_the_token_field(page, front_door):
    page.open()
    page.type_token("not-the-token")
    page.draw(SEVEN)
    expected = refusal_of(front_door, page.pad_png(), "not-the-token")
    assert (expected["status"], expected["type"]) == (401, "Unauthorized")
    assert page.read() == "refused"
    assert page.refusal() == ("401 Unauthorized", expected["message"])
    assert page.driver.switch_to.active_element == page.element("token")


def test_the_token_is_kept_for_the_tab_only(page, front_door):
    page.open()
    page.type_token(front_door.token)
    page.driver.refresh()
    assert page.element("token").get_attribute("value") == front_door.token
    assert page.driver.execute_script("return sessionStorage.length") == 1
    assert page.driver.execute_script("return localStorage.length") == 0
    assert page.driver.get_cookies() == []


def test_the_page_reads_with_no_console_error_and_no_csp_violation(page, front_door):
    # Without the front door's Content-Security-Policy, no violation could show: it must be there.
    policy = requests.get(f"{front_door.url}/", timeout=PATIENCE_S).headers["Content-Security-Policy"]
    assert "default-src 'self'" in policy
    page.open()
    page.type_token(front_door.token)
    page.draw(SEVEN)
    assert page.read() == "read"
    console = page.driver.get_log("browser")
    assert [entry for entry in console if entry["level"] == "SEVERE"] == []
    assert [entry for entry in console if "Content Security Policy" in entry["message"]] == []


def test_docs_try_it_out_predicts_with_the_token(browser, front_door):
    """Swagger UI 5: Authorize with the token, try POST /predictions/mnist with a PNG, see the 200."""
    driver = browser
    driver.execute_cdp_cmd("Emulation.setDeviceMetricsOverride", {**DESKTOP, "deviceScaleFactor": 1})
    driver.get(f"{front_door.url}/docs")
    wait = WebDriverWait(driver, PATIENCE_S)

    def shown(css: str, within=driver):
        """The first element matching `css` that is on screen, once there is one."""
        return wait.until(
            lambda _: next((e for e in within.find_elements(By.CSS_SELECTOR, css) if e.is_displayed()), None),
            f"nothing on screen matches {css}",
        )

    shown(".scheme-container button.authorize").click()
    shown(".modal-ux input[aria-label='auth-bearer-value']").send_keys(front_door.token)
    shown(".modal-ux .auth-btn-wrapper button.authorize").click()
    shown(".modal-ux button.btn-done").click()

    operation = shown(".opblock-post:has(.opblock-summary-path[data-path='/predictions/mnist'])")
    shown(".opblock-summary-control", operation).click()
    shown(".try-out__btn", operation).click()
    Select(shown(".opblock-section-request-body select", operation)).select_by_value("image/png")
    shown(".opblock-section-request-body input[type=file]", operation).send_keys(str(IMAGES / "seven.png"))
    shown("button.execute", operation).click()

    # The answer's row (the table's first row is its header: "Code", "Details").
    answer = shown(".live-responses-table tr.response", operation)
    assert answer.find_element(By.CSS_SELECTOR, ".response-col_status").text == "200"
    assert '"digit": 7' in answer.find_element(By.CSS_SELECTOR, ".highlight-code code").text
