"""The explorer's page in a real browser: headless Chromium (Debian's ``chromium`` and ``chromium-driver``,
which ``.ci/run`` installs when missing) driven by Selenium, the page loaded from ``file://``.

Skipped, with the reason, only where Chromium or its driver is not installed; under CI (``CI`` set) their
absence fails instead.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import functional_nn as fnn
from functional_nn import views
from scripts import explore

CHROMIUM = next((p for p in map(shutil.which, ("chromium", "chromium-browser")) if p), None)
DRIVER = shutil.which("chromedriver")
MISSING = [name for name, path in (("chromium", CHROMIUM), ("chromium-driver", DRIVER)) if path is None]
if MISSING:
    reason = f"{' and '.join(MISSING)} not installed (apt-get install -y chromium chromium-driver, as .ci/run does)"
    if os.environ.get("CI"):
        pytest.fail(f"CI must run the browser tests: {reason}", pytrace=False)
    pytest.skip(reason, allow_module_level=True)

from selenium import webdriver  # noqa: E402  (after the skip: only where the browser is)
from selenium.webdriver.chrome.service import Service  # noqa: E402
from selenium.webdriver.common.action_chains import ActionChains  # noqa: E402
from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.common.keys import Keys  # noqa: E402
from selenium.webdriver.remote.webelement import WebElement  # noqa: E402
from selenium.webdriver.support.ui import WebDriverWait  # noqa: E402

# two datasets x two learning rates: each pair of runs trains as one stack
FLAGS = ["--datasets", "circle", "xor", "--hidden", "3,2", "--activation", "tanh", "--lr", "0.05", "0.5"]
FLAGS += ["--epochs", "40", "--snapshots", "8"]


class Page:
    """The page written by ``scripts.explore`` and the runs (with their traces) that it shows."""

    def __init__(self, path: Path, runs: list[explore.Run]) -> None:
        self.path, self.runs, self.url = path, runs, path.resolve().as_uri()


@pytest.fixture(scope="module")
def page(tmp_path_factory: pytest.TempPathFactory) -> Page:
    out = tmp_path_factory.mktemp("explorer") / "explorer.html"
    assert explore.main([*FLAGS, "--out", str(out)]) == 0
    args = explore.build_parser().parse_args(FLAGS)
    settings = explore.Settings(epochs=args.epochs, snapshots=args.snapshots)
    runs = explore.train_all(explore.groups_from(args), settings, echo=False)  # the same traces, trained again
    return Page(out, runs)


@pytest.fixture(scope="module")
def browser() -> Iterator[webdriver.Chrome]:
    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for flag in (
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--window-size=1200,1000",
    ):
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL", "performance": "ALL"})
    driver = webdriver.Chrome(options=options, service=Service(str(DRIVER)))
    try:
        yield driver
    finally:
        driver.quit()


def _open(browser: webdriver.Chrome, page: Page, hash_: str = "") -> None:
    browser.get("about:blank")  # the same page with another hash would not load again
    _log(browser, "browser")  # drop what came before
    _log(browser, "performance")
    browser.get(page.url + hash_)
    WebDriverWait(browser, 10).until(lambda d: d.find_element(By.TAG_NAME, "body").get_attribute("data-ready"))


def _text(browser: webdriver.Chrome, element_id: str) -> str:
    return str(browser.find_element(By.ID, element_id).text)


def _picture(browser: webdriver.Chrome, selector: str) -> str:
    result = browser.execute_script("return document.querySelector(arguments[0]).toDataURL()", selector)
    return str(result)


def _log(browser: webdriver.Chrome, kind: str) -> list[dict[str, Any]]:
    entries: list[dict[str, Any]] = browser.get_log(kind)  # type: ignore[no-untyped-call]
    return entries


def _problems(browser: webdriver.Chrome) -> list[dict[str, Any]]:
    return [e for e in _log(browser, "browser") if e["level"] in ("SEVERE", "WARNING")]


def _requests(browser: webdriver.Chrome) -> list[str]:
    urls = []
    for entry in _log(browser, "performance"):
        message = json.loads(entry["message"])["message"]
        if message["method"] == "Network.requestWillBeSent":
            urls.append(message["params"]["request"]["url"])
    return urls


def _shown(run: explore.Run, epoch: int) -> dict[str, float]:
    fig = views.figures(run.trace, run.test)
    assert fig.val_loss is not None and fig.val_accuracy is not None
    return {
        "loss": float(fig.loss[epoch]),
        "accuracy": float(fig.accuracy[epoch]),
        "val-loss": float(fig.val_loss[epoch]),
        "val-accuracy": float(fig.val_accuracy[epoch]),
    }


SHOWN = """return Object.fromEntries(["epoch", "epochs-run", "loss", "accuracy", "val-loss", "val-accuracy"].map(
    (id) => [id, [document.getElementById(id).textContent, document.getElementById(id).dataset.value]]))"""


def _check_numbers(browser: webdriver.Chrome, run: explore.Run) -> int:
    """The epoch and the four numbers shown equal the trace's; returns the epoch."""
    shown = browser.execute_script(SHOWN)  # one round trip for all of them
    epoch = int(shown["epoch"][0])
    assert int(shown["epochs-run"][0]) == run.trace.epochs_run
    for key, want in _shown(run, epoch).items():
        text, value = shown[key]
        assert float(value) == want, (key, epoch)  # the page holds the trace's double itself
        if "accuracy" in key:
            assert text == f"{100 * want:.1f}%"
        else:
            assert float(text) == pytest.approx(want, rel=5e-4)  # 4 significant digits
    return epoch


def test_page_loads_without_console_errors_and_makes_no_request(browser: webdriver.Chrome, page: Page) -> None:
    _open(browser, page)
    assert _problems(browser) == []
    assert set(_requests(browser)) == {page.url}  # the page itself, and nothing else
    assert len(browser.find_elements(By.CSS_SELECTOR, "#runs .run")) == 4
    assert browser.find_element(By.ID, "slider").get_attribute("max") == "8"
    units = browser.find_elements(By.CSS_SELECTOR, "#network .unit")
    assert len(units) == 2 + 3 + 2 + 1
    assert len(browser.find_elements(By.CSS_SELECTOR, "#edges path.edge")) == 2 * 3 + 3 * 2 + 2 * 1


def test_moving_the_slider_changes_the_epoch_and_the_pictures(browser: webdriver.Chrome, page: Page) -> None:
    _open(browser, page)
    pictures = ("#boundary", "#curves", '#network .unit[data-layer="1"] canvas', "#runs .run canvas")
    before = [_picture(browser, s) for s in pictures]
    widths = [e.get_attribute("stroke-width") for e in browser.find_elements(By.CSS_SELECTOR, "#edges path.edge")]
    assert _text(browser, "epoch") == "0"
    slider = browser.find_element(By.ID, "slider")
    slider.send_keys(Keys.END)
    assert _text(browser, "epoch") == "40"
    after = [_picture(browser, s) for s in pictures]
    assert all(a != b for a, b in zip(before, after)), "every picture changes between the first and last epoch"
    assert widths != [
        e.get_attribute("stroke-width") for e in browser.find_elements(By.CSS_SELECTOR, "#edges path.edge")
    ]
    slider.send_keys(Keys.HOME)
    assert _text(browser, "epoch") == "0" and [_picture(browser, s) for s in pictures] == before
    assert _problems(browser) == []


def test_the_numbers_shown_equal_the_trace_at_every_epoch(browser: webdriver.Chrome, page: Page) -> None:
    _open(browser, page)
    for k in (0, 3):  # circle at lr 0.05, xor at lr 0.5
        browser.find_elements(By.CSS_SELECTOR, "#runs .run")[k].click()
        slider = browser.find_element(By.ID, "slider")
        slider.send_keys(Keys.HOME)
        epochs = [_check_numbers(browser, page.runs[k])]
        for _ in range(8):
            slider.send_keys(Keys.ARROW_RIGHT)
            epochs.append(_check_numbers(browser, page.runs[k]))
        assert epochs[0] == 0 and epochs[-1] == 40 and epochs == sorted(set(epochs))
        card = browser.find_elements(By.CSS_SELECTOR, "#runs .run")[k]
        assert "selected" in str(card.get_attribute("class"))
        assert str(page.runs[k].label) in card.text
    assert _problems(browser) == []


def _params_at(run: explore.Run, epoch: int) -> Any:
    return dict(views.frames(run.trace, run.initial))[epoch]


def _hover(browser: webdriver.Chrome, element: WebElement) -> None:
    ActionChains(browser).move_to_element(element).perform()


def test_hovering_and_selecting_show_the_values(browser: webdriver.Chrome, page: Page) -> None:
    _open(browser, page, "#epoch=13")
    epoch = int(_text(browser, "epoch"))
    assert 0 < epoch <= 13  # the last epoch shown up to 13
    params = _params_at(page.runs[0], epoch)
    info = browser.find_element(By.ID, "info")
    unit = browser.find_element(By.CSS_SELECTOR, '#network .unit[data-layer="1"][data-unit="2"]')
    _hover(browser, unit)
    assert info.get_attribute("data-kind") == "unit"
    bias = float(params[0].b[2])
    assert float(str(info.get_attribute("data-value"))) == float(f"{bias:.5g}")
    shown = re.search(r"Layer 1, unit 3 \(tanh\): bias b = (\S+)\. ", info.text)
    assert shown is not None and float(shown[1]) == pytest.approx(bias, rel=5e-4)  # 4 significant digits
    # an edge: whichever the pointer lands on, the value shown is that edge's weight
    edge = browser.find_element(By.CSS_SELECTOR, '#edges path.hit[data-layer="2"][data-from="1"][data-to="0"]')
    _hover(browser, edge)
    assert info.get_attribute("data-kind") == "edge"
    layer, i, j = (int(str(info.get_attribute(f"data-{k}"))) for k in ("layer", "from", "to"))
    weight = float(params[layer - 1].w[i, j])
    assert float(str(info.get_attribute("data-value"))) == float(f"{weight:.5g}")
    assert "Weight from " in info.text and "w = " in info.text
    # selecting a unit shows its map large, and its values follow the slider
    boundary = _picture(browser, "#boundary")
    unit.click()
    assert _text(browser, "map-title") == "Layer 1, unit 3: its output over the plane"
    assert _picture(browser, "#boundary") != boundary
    _hover(browser, browser.find_element(By.ID, "slider"))
    assert info.get_attribute("data-kind") == "unit"  # still selected
    browser.find_element(By.ID, "slider").send_keys(Keys.END)
    last = page.runs[0].trace.params[0]
    assert isinstance(last, fnn.Dense)
    final = float(last.b[2])
    assert float(str(info.get_attribute("data-value"))) == float(f"{final:.5g}")
    unit.click()
    assert _text(browser, "map-title").startswith("Output")
    assert _problems(browser) == []


def test_play_steps_through_the_snapshots_and_pause_stops(browser: webdriver.Chrome, page: Page) -> None:
    _open(browser, page)
    play = browser.find_element(By.ID, "play")
    play.click()
    WebDriverWait(browser, 5).until(lambda d: int(_text(d, "epoch")) > 0)
    play.click()
    stopped = _text(browser, "epoch")
    time.sleep(0.4)
    assert _text(browser, "epoch") == stopped and "Play" in play.text
    play.click()  # plays on to the last epoch and stops there
    WebDriverWait(browser, 5).until(
        lambda d: _text(d, "epoch") == "40" and "Play" in d.find_element(By.ID, "play").text
    )
    assert _problems(browser) == []
