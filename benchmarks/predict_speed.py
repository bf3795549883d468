"""Time `nogancolor predict` work on this machine: a 1024x1024 photo (decode, colorize at the
model's default render size, encode) and a short video.

    python benchmarks/predict_speed.py [--model runs/unet-hue/model.safetensors]

Without --model it times the bundled photo model, the one `predict` uses on a fresh install.
"""

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from skimage import data as skdata

from nogancolor.apps.bundled import bundled_model
from nogancolor.apps.colorize import Colorizer, save_image
from nogancolor.apps.video import colorize_video


def photo_1024() -> Image.Image:
    """scikit-image's astronaut (NASA, public domain), 512x512, resized to 1024x1024."""
    return Image.fromarray(skdata.astronaut()).resize((1024, 1024), Image.Resampling.BICUBIC)


def make_video(path: Path, n_frames: int = 125, size=(256, 256), fps: int = 25):
    import av

    base = np.array(Image.fromarray(skdata.astronaut()).resize(size))
    with av.open(str(path), "w") as out:
        stream = out.add_stream("libx264" if "libx264" in av.codecs_available else "mpeg4", rate=fps)
        stream.width, stream.height, stream.pix_fmt = size[0], size[1], "yuv420p"
        for i in range(n_frames):
            frame = np.roll(base, 2 * i, axis=1)  # a slow pan
            out.mux(stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")))
        out.mux(stream.encode(None))


def best_of(n: int, fn) -> float:
    times = []
    for _ in range(n):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", type=Path)
    args = parser.parse_args()
    colorizer = Colorizer.from_checkpoint(args.model or bundled_model(), device="cpu")
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, model {colorizer.name}, render size {colorizer.render_size}")
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        photo_1024().save(tmp / "photo.jpg", quality=95)
        colorizer.colorize(tmp / "photo.jpg")  # warm-up
        core = best_of(5, lambda: colorizer.colorize(tmp / "photo.jpg"))
        whole = best_of(5, lambda: save_image(colorizer.colorize(tmp / "photo.jpg"), tmp / "out.jpg"))
        print(f"1024x1024 JPEG photo: decode + colorize {core:.3f} s; with writing the JPEG {whole:.3f} s (best of 5)")
        make_video(tmp / "clip.mp4")
        start = time.perf_counter()
        n = colorize_video(colorizer, tmp / "clip.mp4", tmp / "clip_color.mp4", smooth=0.5, progress=False)
        seconds = time.perf_counter() - start
        print(f"video 256x256, {n} frames (5 s at 25 fps): {seconds:.2f} s, {n / seconds:.0f} frames/s")


if __name__ == "__main__":
    main()
