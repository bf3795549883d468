"""Load test of `nogancolor serve` on the loopback address: does the page stay up while busy?

    python benchmarks/serve_load.py --model runs/unet-hue/model.safetensors [--clients 16] [--requests 8]
                                    [--workers 1] [--queue 8]

Starts the server in its own process, then `clients` threads each POST `requests` 1024x768 JPEGs
to /api/colorize (no retries) while one more thread polls GET / every 50 ms. Every answer must
be 200 or 503 (busy, with Retry-After); nothing may be dropped. Prints the count per status, the
p50/p95 latency of colorize answers and of GET /, and the server's peak resident memory.
"""

import argparse
import io
import json
import os
import platform
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

import numpy as np
from PIL import Image


def photo_jpeg(width: int = 1024, height: int = 768, seed: int = 0) -> bytes:
    """A smooth colour picture with noise, as a JPEG (quality 90)."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:height, 0:width] / max(width, height)
    base = np.stack([0.5 + 0.4 * np.sin(6 * xx), 0.4 + 0.3 * np.cos(5 * yy), 0.5 + 0.4 * np.sin(4 * (xx + yy))], -1)
    rgb = (np.clip(base + rng.normal(0, 0.05, base.shape), 0, 1) * 255).astype(np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(rgb).save(buffer, format="JPEG", quality=90)
    return buffer.getvalue()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def percentile(values, q: float) -> float:
    return float(np.percentile(values, q)) if values else float("nan")


def peak_rss_mb(pid: int) -> float:
    """The process's peak resident set (VmHWM), Linux."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def request(url: str, data: bytes | None = None, timeout: float = 120) -> tuple[int, float, str | None]:
    """-> (status, seconds, Retry-After header); status 0 when the connection failed (a dropped
    request)."""
    start = time.perf_counter()
    try:
        with urllib.request.urlopen(urllib.request.Request(url, data=data, method="POST" if data else "GET"),
                                    timeout=timeout) as response:
            response.read()
            return response.status, time.perf_counter() - start, response.headers.get("Retry-After")
    except urllib.error.HTTPError as e:
        e.read()
        return e.code, time.perf_counter() - start, e.headers.get("Retry-After")
    except OSError:
        return 0, time.perf_counter() - start, None


def run_load(model: Path, clients: int = 16, requests: int = 8, workers: int = 1, queue: int = 8,
             render_size: int | None = None) -> dict:
    port = free_port()
    command = [sys.executable, "-m", "cli.main", "serve", "--model", str(model), "--port", str(port),
               "--workers", str(workers), "--queue", str(queue), "--device", "cpu"]
    if render_size:
        command += ["--render-size", str(render_size)]
    server = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                              cwd=Path(__file__).resolve().parent.parent)
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(600):
            if request(base + "/", timeout=1)[0] == 200:
                break
            if server.poll() is not None:
                raise RuntimeError("server exited: " + server.stdout.read().decode())
            time.sleep(0.1)
        idle_rss = peak_rss_mb(server.pid)
        bodies = [photo_jpeg(seed=i) for i in range(4)]
        answers, page, busy = [], [], threading.Event()

        def client(k: int):
            for i in range(requests):
                answers.append(request(f"{base}/api/colorize", bodies[(k + i) % len(bodies)]))

        def poll():
            while not busy.is_set():
                page.append(request(base + "/", timeout=10))
                time.sleep(0.05)

        poller = threading.Thread(target=poll)
        threads = [threading.Thread(target=client, args=(k,)) for k in range(clients)]
        start = time.perf_counter()
        poller.start()
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        wall = time.perf_counter() - start
        busy.set()
        poller.join()
        ok = [s for status, s, _ in answers if status == 200]
        statuses = {}
        for status, _, _ in answers:
            statuses[status] = statuses.get(status, 0) + 1
        return {
            "requests": len(answers), "statuses": statuses, "wall_s": wall,
            "colorize_p50_s": percentile(ok, 50), "colorize_p95_s": percentile(ok, 95),
            "busy_503_have_retry_after": all(r is not None for status, _, r in answers if status == 503),
            "page_requests": len(page), "page_statuses": sorted({status for status, _, _ in page}),
            "page_p50_s": percentile([s for _, s, _ in page], 50), "page_p95_s": percentile([s for _, s, _ in page], 95),
            "server_idle_rss_mb": idle_rss, "server_peak_rss_mb": peak_rss_mb(server.pid),
            "upload_kb": len(bodies[0]) / 1024, "clients": clients, "per_client": requests, "workers": workers,
            "queue": queue,
        }
    finally:
        server.terminate()
        server.wait(timeout=30)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", type=Path, required=True)
    ap.add_argument("--clients", type=int, default=16)
    ap.add_argument("--requests", type=int, default=8)
    ap.add_argument("--workers", type=int, default=1)
    ap.add_argument("--queue", type=int, default=8)
    args = ap.parse_args()
    result = run_load(args.model, args.clients, args.requests, args.workers, args.queue)
    cpu = next((line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo") if line.startswith("model name")),
               platform.machine())
    print(f"machine: {cpu}, {os.cpu_count()} cores")
    print(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
