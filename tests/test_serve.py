"""The web app: API behaviour with FastAPI's TestClient, and end to end in headless Chromium."""

import base64
import io
import shutil
import socket
import threading
import time
from contextlib import contextmanager

import numpy as np
import pytest
import torch
from fastapi.testclient import TestClient
from PIL import Image

from nogancolor.apps.colorize import Colorizer
from nogancolor.apps.serve import create_app
from nogancolor.methods import train
from nogancolor.methods.unet import UNetConfig


@pytest.fixture(scope="module")
def app(prepared, tmp_path_factory):
    torch.manual_seed(0)
    out = tmp_path_factory.mktemp("serve") / "unet"
    train(UNetConfig(data=str(prepared), epochs=3, bs=8, base=8), out, progress=False)
    colorizer = Colorizer.from_checkpoint(out / "model.safetensors", device="cpu")
    return create_app({"unet (a)": colorizer, "unet (b)": colorizer}, max_upload_mb=0.05)


def png_bytes(width=90, height=60) -> bytes:
    yy, xx = np.mgrid[0:height, 0:width]
    rgb = np.stack([xx * 255 // width, yy * 255 // height, np.full_like(xx, 128)], -1).astype(np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(rgb).save(buffer, format="PNG")
    return buffer.getvalue()


def decode(data_url: str) -> Image.Image:
    return Image.open(io.BytesIO(base64.b64decode(data_url.split(",", 1)[1])))


def assert_coloured(image: Image.Image, size):
    rgb = np.array(image.convert("RGB")).astype(int)
    assert image.size == size and np.abs(rgb[..., 0] - rgb[..., 2]).mean() > 2


def test_api_colorizes_with_each_chosen_model(app):
    client = TestClient(app)
    assert [m["name"] for m in client.get("/api/models").json()] == ["unet (a)", "unet (b)"]
    body = client.post("/api/colorize", params={"models": "unet (a),unet (b)"}, content=png_bytes()).json()
    assert [r["model"] for r in body["results"]] == ["unet (a)", "unet (b)"]
    for result in body["results"]:
        assert_coloured(decode(result["image"]), (90, 60))
    assert decode(body["gray"]).mode == "L"


def test_api_refuses_bad_uploads_with_a_message(app):
    client = TestClient(app)
    too_big = client.post("/api/colorize", content=b"x" * 200_000)
    assert too_big.status_code == 413 and "0.05 MB limit" in too_big.json()["detail"]
    not_image = client.post("/api/colorize", content=b"hello")
    assert not_image.status_code == 400 and "not an image" in not_image.json()["detail"]
    unknown = client.post("/api/colorize", params={"models": "nope"}, content=png_bytes())
    assert unknown.status_code == 400 and "unknown model" in unknown.json()["detail"]


def find_browser():
    chromium, driver = shutil.which("chromium") or shutil.which("chromium-browser"), shutil.which("chromedriver")
    if not (chromium and driver):
        pytest.skip("headless Chromium and chromedriver are not installed (Debian: apt-get install chromium chromium-driver)")
    return chromium, driver


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def page_in_chromium(app):
    """The app served on a free port and its page open in headless Chromium: -> (browser, wait)."""
    import uvicorn
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service
    from selenium.webdriver.support.ui import WebDriverWait

    chromium, driver_path = find_browser()
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.05)
    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    for flag in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu"):
        options.add_argument(flag)
    browser = webdriver.Chrome(service=Service(driver_path), options=options)
    try:
        browser.get(f"http://127.0.0.1:{port}/")
        yield browser, WebDriverWait(browser, 60)
    finally:
        browser.quit()
        server.should_exit = True
        thread.join(timeout=10)


def test_page_end_to_end_in_headless_chromium(app, tmp_path):
    from selenium.webdriver.common.by import By

    with page_in_chromium(app) as (browser, wait):
        wait.until(lambda b: len(b.find_elements(By.CSS_SELECTOR, "#models input")) == 2)
        assert not browser.find_element(By.ID, "vivid").is_displayed()  # no colour-classification model
        browser.find_elements(By.CSS_SELECTOR, "#models input")[1].click()  # untick the second model
        (tmp_path / "photo.png").write_bytes(png_bytes())
        browser.find_element(By.ID, "file").send_keys(str(tmp_path / "photo.png"))
        browser.find_element(By.ID, "go").click()
        wait.until(lambda b: "done" in b.find_element(By.ID, "status").text)
        figures = browser.find_elements(By.CSS_SELECTOR, "#results figure")
        assert [f.find_element(By.TAG_NAME, "figcaption").text.split(" download")[0] for f in figures] == ["gray input", "unet (a)"]
        src = figures[1].find_element(By.TAG_NAME, "img").get_attribute("src")
        assert_coloured(decode(src), (90, 60))
        assert figures[1].find_element(By.TAG_NAME, "a").get_attribute("download") == "photo_unet.png"

        (tmp_path / "big.png").write_bytes(b"\x89PNG" + b"0" * 100_000)  # over the 0.05 MB limit
        browser.find_element(By.ID, "file").send_keys(str(tmp_path / "big.png"))
        browser.find_element(By.ID, "go").click()
        wait.until(lambda b: b.find_element(By.ID, "error").text)
        assert "MB limit" in browser.find_element(By.ID, "error").text


def test_the_page_has_temperature_and_vividness_sliders_for_a_colour_classification_model(prepared, tmp_path):
    from selenium.webdriver.common.by import By

    from nogancolor.methods.classify import ClassifyConfig

    torch.manual_seed(0)
    train(ClassifyConfig(data=str(prepared), epochs=1, bs=8, base=8), tmp_path / "classify", progress=False)
    colorizer = Colorizer.from_checkpoint(tmp_path / "classify" / "model.safetensors", device="cpu")
    with page_in_chromium(create_app({"classify": colorizer})) as (browser, wait):
        wait.until(lambda b: b.find_element(By.ID, "vivid").is_displayed())
        slider = browser.find_element(By.ID, "temperature")
        assert slider.get_attribute("value") == "0.38" and browser.find_element(By.ID, "tvalue").text == "0.38"
        browser.execute_script("arguments[0].value = 0.9; arguments[0].dispatchEvent(new Event('input'))", slider)
        assert browser.find_element(By.ID, "tvalue").text == "0.9"
        vividness = browser.find_element(By.ID, "vividness")  # the export carries its rebalancing weights
        assert vividness.get_attribute("value") == "1" and browser.find_element(By.ID, "vividness-box").is_displayed()
        browser.execute_script("arguments[0].value = 0.2; arguments[0].dispatchEvent(new Event('input'))", vividness)
        assert browser.find_element(By.ID, "vvalue").text == "0.2"
        (tmp_path / "photo.png").write_bytes(png_bytes())
        browser.find_element(By.ID, "file").send_keys(str(tmp_path / "photo.png"))
        browser.find_element(By.ID, "go").click()
        wait.until(lambda b: "done" in b.find_element(By.ID, "status").text)
        src = browser.find_elements(By.CSS_SELECTOR, "#results figure img")[1].get_attribute("src")
    shown = np.array(decode(src).convert("RGB"))
    photo = Image.open(io.BytesIO(png_bytes()))
    assert (shown == np.array(colorizer.colorize(photo, 0.9, 0.2))).all()  # the sliders' temperature and vividness
    assert not (shown == np.array(colorizer.colorize(photo, 0.9))).all()


def load_test_module():
    import importlib.util
    from pathlib import Path

    path = Path(__file__).resolve().parent.parent / "benchmarks" / "serve_load.py"
    spec = importlib.util.spec_from_file_location("serve_load", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.slow
def test_the_server_stays_up_under_load(prepared, tmp_path):
    """16 clients x 8 uploads of a 1024x768 JPEG against one worker and a queue of 8, while GET /
    is polled: every answer is 200 or 503 with Retry-After, none dropped, the page stays fast,
    and the requests' memory stays bounded (the queue bounds the uploads held at once)."""
    torch.manual_seed(0)
    train(UNetConfig(data=str(prepared), epochs=1, bs=8, base=8), tmp_path / "unet", progress=False)
    result = load_test_module().run_load(tmp_path / "unet" / "model.safetensors", clients=16, requests=8, workers=1,
                                         queue=8)
    assert result["requests"] == 128 and set(result["statuses"]) <= {200, 503}, result
    assert result["statuses"].get(200, 0) >= 8 and result["busy_503_have_retry_after"], result
    assert result["page_statuses"] == [200] and result["page_requests"] >= 10, result
    assert result["page_p95_s"] < 0.2, result
    assert result["server_peak_rss_mb"] - result["server_idle_rss_mb"] < 400, result


def test_a_queue_shorter_than_the_workers_is_refused_in_one_line(tmp_path):
    from typer.testing import CliRunner

    from cli.main import app as cli

    result = CliRunner().invoke(cli, ["serve", "--model", str(tmp_path / "none.safetensors"), "--workers", "3",
                                      "--queue", "2"])
    assert result.exit_code == 1 and "serving" not in result.output
    assert "need at least 1 worker and a queue at least as long (3 workers, queue 2)" in result.output
