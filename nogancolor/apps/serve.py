"""`nogancolor serve`: a small web page to colorize an uploaded image with one or more models.

FastAPI serves one plain HTML page and a JSON endpoint; results come back as PNG data URLs the
page shows side by side (gray input | each model) with download links. Binds to 127.0.0.1 by
default.

Under load: decoding, colorizing and encoding run in a pool of `workers` threads, never on the
event loop, so the page and the model list answer at once while models run. At most `queue`
colorize requests are admitted at a time (being uploaded, waiting or running); one more is
answered 503 with Retry-After and a message, before its body is read. Uploads above
`max_upload_mb` are refused with 413, never read whole. So the memory held by requests is
bounded by `queue` uploads plus `workers` images being worked on.
"""

import asyncio
import base64
import io
import math
import time
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from pathlib import Path

from fastapi import FastAPI, HTTPException, Request
from fastapi.responses import HTMLResponse
from PIL import Image

from ..config import check_temperature
from ..methods import by_preference
from ..models.bins import check_vividness
from .colorize import Colorizer, ImageError, open_image
from .predict import find_model

PAGE = Path(__file__).with_name("serve_page.html")


def best_per_method(root: Path = Path("runs")) -> list[Path]:
    """The best exported model of each method under `root` (NoGAN, U-Net, DCGAN order)."""
    found = []
    for method in by_preference():
        path = find_model(root, methods=(method,))
        if path:
            found.append(path)
    return found


def png_data_url(image: Image.Image) -> str:
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode()


def check_pool(workers: int, queue: int) -> None:
    """Raise ValueError unless `workers` threads and a queue of `queue` requests make sense."""
    if workers < 1 or queue < workers:
        raise ValueError(f"need at least 1 worker and a queue at least as long ({workers} workers, queue {queue})")


def create_app(colorizers: dict[str, Colorizer], max_upload_mb: float = 20, workers: int = 1, queue: int = 8) -> FastAPI:
    """The web app over named colorizers (a name is shown on the page and picks the model);
    `workers` threads colorize, at most `queue` colorize requests are admitted at once."""
    check_pool(workers, queue)
    pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="colorize")
    limit = int(max_upload_mb * 1024 * 1024)
    state = {"admitted": 0, "seconds": 1.0}  # requests in the house; smoothed seconds of work per request

    @asynccontextmanager
    async def lifespan(app):
        yield
        pool.shutdown(wait=False, cancel_futures=True)

    app = FastAPI(title="nogancolor", docs_url=None, redoc_url=None, lifespan=lifespan)

    @app.get("/", response_class=HTMLResponse)
    async def page():
        return PAGE.read_text().replace("{{MAX_MB}}", f"{max_upload_mb:g}")

    @app.get("/api/models")
    async def models():
        return [{"name": name, "method": c.name, "val_psnr": c.config.get("metrics", {}).get("val_psnr"),
                 "temperature": c.default_temperature, "vividness": c.default_vividness}
                for name, c in colorizers.items()]

    def work(data: bytes, names: list[str], temperature: float | None, vividness: float | None) -> dict:
        start = time.perf_counter()
        rgb, _ = open_image(io.BytesIO(data))
        results = [{"model": n, "image": png_data_url(colorizers[n].colorize(
            rgb, temperature if colorizers[n].default_temperature else None,
            vividness if colorizers[n].default_vividness is not None else None))} for n in names]
        state["seconds"] = 0.8 * state["seconds"] + 0.2 * (time.perf_counter() - start)
        return {"width": rgb.width, "height": rgb.height, "gray": png_data_url(rgb.convert("L")), "results": results}

    @app.post("/api/colorize")
    async def colorize(request: Request, models: str = "", temperature: float | None = None,
                       vividness: float | None = None):
        """Colorize the uploaded image with the named models; `temperature` and `vividness` apply
        to the colour-classification models among them (the others predict one colour per pixel)."""
        if int(request.headers.get("content-length") or 0) > limit + 64 * 1024:
            raise HTTPException(413, f"the upload is larger than the {max_upload_mb:g} MB limit")
        names = [n for n in models.split(",") if n] or list(colorizers)[:1]
        unknown = [n for n in names if n not in colorizers]
        if unknown:
            raise HTTPException(400, f"unknown model {unknown[0]!r}; loaded: {', '.join(colorizers)}")
        try:
            check_temperature(temperature)
            if vividness is not None:
                check_vividness(vividness)
        except ValueError as e:
            raise HTTPException(400, str(e)) from e
        if state["admitted"] >= queue:  # checked and counted with no await between: one event loop
            wait = max(1, math.ceil(state["seconds"] * queue / workers))
            raise HTTPException(503, f"busy: {queue} images are being colorized or waiting; try again in {wait} s",
                                headers={"Retry-After": str(wait)})
        state["admitted"] += 1
        try:
            data = bytearray()
            async for part in request.stream():
                data += part
                if len(data) > limit:
                    raise HTTPException(413, f"the upload is larger than the {max_upload_mb:g} MB limit")
            if not data:
                raise HTTPException(400, "no image received")
            try:
                return await asyncio.get_running_loop().run_in_executor(pool, work, bytes(data), names, temperature,
                                                                  vividness)
            except ImageError as e:
                raise HTTPException(400, str(e)) from e
        finally:
            state["admitted"] -= 1

    return app


def serve(model_paths: list[Path], *, host: str, port: int, max_upload_mb: float, device, render_size: int | None,
          workers: int, queue: int) -> None:
    import uvicorn

    colorizers = {}
    for path in model_paths:
        colorizer = Colorizer.from_checkpoint(path, device=device, render_size=render_size)
        name = f"{colorizer.name} ({Path(path).parent.name})"
        colorizers[name] = colorizer
    uvicorn.run(create_app(colorizers, max_upload_mb, workers, queue), host=host, port=port, log_level="warning")
