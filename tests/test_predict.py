import json
import pickle
import struct
import zlib
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from typer.testing import CliRunner

from cli.main import app
from nogancolor.apps.colorize import Colorizer, ImageError, open_image
from nogancolor.apps.predict import find_model
from nogancolor.color import rgb_to_lab
from nogancolor.methods import train
from nogancolor.methods.unet import UNetConfig

runner = CliRunner()


@pytest.fixture(scope="module")
def checkpoint(prepared, tmp_path_factory):
    torch.manual_seed(0)
    out = tmp_path_factory.mktemp("model") / "unet-hue"
    train(UNetConfig(data=str(prepared), epochs=3, bs=8, base=8), out, progress=False)
    return out / "model.safetensors"


@pytest.fixture(scope="module")
def colorizer(checkpoint):
    return Colorizer.from_checkpoint(checkpoint, device="cpu")


def photo(width=120, height=80, seed=0) -> np.ndarray:
    """A smooth colour picture with fine noise on top: detail the 32x32 model never sees."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:height, 0:width] / max(width, height)
    base = np.stack([0.5 + 0.4 * np.sin(6 * xx), 0.4 + 0.3 * np.cos(5 * yy), 0.5 + 0.4 * np.sin(4 * (xx + yy))], -1)
    return (np.clip(base + rng.normal(0, 0.08, base.shape), 0, 1) * 255).astype(np.uint8)


def lightness(image) -> torch.Tensor:
    rgb = torch.from_numpy(np.array(image.convert("RGB"))).permute(2, 0, 1)[None].float() / 255
    return rgb_to_lab(rgb)[0, 0]


def test_output_has_the_input_size_colour_and_its_full_resolution_lightness(colorizer):
    source = Image.fromarray(photo())
    result = colorizer.colorize(source)
    assert result.size == source.size and result.mode == "RGB"
    rgb = np.array(result).astype(int)
    assert np.abs(rgb[..., 0] - rgb[..., 2]).mean() > 2  # not gray
    # the pixel-level detail comes from the input's own L, not from the 32x32 working size
    assert (lightness(result) - lightness(source)).abs().mean() < 1.0


@pytest.mark.parametrize("kind", ["gray.jpg", "gray16.png", "rgba.png", "photo.webp", "photo.bmp", "photo.tif", "palette.png"])
def test_common_formats_and_modes(colorizer, tmp_path, kind):
    rgb = photo(64, 48)
    gray = np.array(Image.fromarray(rgb).convert("L"))
    image = {
        "gray.jpg": Image.fromarray(gray),
        "gray16.png": Image.fromarray(gray.astype(np.uint16) * 257),
        "rgba.png": Image.fromarray(np.dstack([rgb, np.full(gray.shape, 128, np.uint8)])),
        "palette.png": Image.fromarray(rgb).convert("P"),
    }.get(kind, Image.fromarray(rgb))
    path = tmp_path / kind
    image.save(path)
    result = colorizer.colorize(path)
    assert result.size == (64, 48)
    if kind == "rgba.png":
        assert result.mode == "RGBA" and np.array(result)[..., 3].min() == 128
    if kind == "gray16.png":  # 16-bit input keeps its lightness
        assert (lightness(result) - lightness(Image.fromarray(gray))).abs().mean() < 1.5


def test_exif_orientation_is_applied(colorizer, tmp_path):
    image = Image.fromarray(photo(60, 30))
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90 degrees to display upright
    image.save(tmp_path / "rotated.jpg", exif=exif)
    assert colorizer.colorize(tmp_path / "rotated.jpg").size == (30, 60)


def test_python_api_takes_arrays(colorizer):
    assert colorizer.colorize(photo(40, 40)).size == (40, 40)
    with pytest.raises(ImageError, match="uint8 or uint16"):
        open_image(np.zeros((4, 4), np.float32))


def run(*args):
    return runner.invoke(app, [str(a) for a in args])


def one_error_line(result, *fragments):
    assert result.exit_code != 0 and "Traceback" not in result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.output
    for fragment in fragments:
        assert fragment in lines[0]


def fake_png_header(path: Path, width: int, height: int):
    """A PNG whose header claims width x height (no pixel data): what a huge image looks like before decoding."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\0" * 64)) + chunk(b"IEND", b""))


def test_bad_single_inputs_give_one_error_line(checkpoint, tmp_path):
    good = tmp_path / "good.jpg"
    Image.fromarray(photo()).save(good)
    (tmp_path / "text.png").write_text("not an image at all")
    (tmp_path / "empty.jpg").write_bytes(b"")
    (tmp_path / "truncated.jpg").write_bytes(good.read_bytes()[:400])
    fake_png_header(tmp_path / "huge.png", 20000, 20000)
    (tmp_path / "a_file").write_text("x")
    cases = {
        "text.png": "not an image",
        "empty.jpg": "not an image",
        "truncated.jpg": "could not be read",
        "huge.png": "megapixel limit",
        "missing.png": "no such file",
    }
    for name, message in cases.items():
        one_error_line(run("predict", tmp_path / name, "--model", checkpoint), name, message)
    one_error_line(run("predict", good, "--model", checkpoint, "-o", tmp_path / "a_file" / "out.png"),
                   "is a file, not a folder")
    one_error_line(run("predict", good, "--model", checkpoint, "-o", tmp_path / "out.xyz"), "unknown image format")
    one_error_line(run("predict", good, "--model", checkpoint, "--render-size", 48), "multiple of 32")
    assert not list(tmp_path.glob(".*tmp*"))  # nothing half-written


def test_what_a_first_run_gets_wrong_is_said_in_one_line_naming_what_the_user_typed(checkpoint, tmp_path):
    good = tmp_path / "good.jpg"
    Image.fromarray(photo()).save(good)
    result = run("predict", good, "--model", tmp_path / "nonexistent.safetensors")
    one_error_line(result, "nonexistent.safetensors: no such model file")
    assert "nonexistent.json" not in result.output
    fake_png_header(tmp_path / "big.png", 12000, 12000)  # past Pillow's warning threshold, below its error
    result = run("predict", tmp_path / "big.png", "--model", checkpoint)
    one_error_line(result, "big.png: 12000x12000 (144 megapixels) is larger than the 40 megapixel limit")
    assert "DecompressionBombWarning" not in result.output
    fake_png_header(tmp_path / "bomb.png", 30000, 30000)  # past Pillow's error threshold: it gives the pixel count
    one_error_line(run("predict", tmp_path / "bomb.png", "--model", checkpoint), "bomb.png (900 megapixels) is larger")
    for args, message in ((["--render-size", 16], "--render-size 16 is not a multiple of 32"),
                          (["--batch-size", 0], "--batch-size 0 is out of range: [at least 1]"),
                          (["--smooth", 1.5], "--smooth 1.5 is out of range: [0.0 to 0.99]")):
        result = run("predict", good, "--model", checkpoint, *args)
        assert result.exit_code == 1  # our error line, never Typer's box and exit 2
        one_error_line(result, message)


def test_the_help_names_the_bundled_model_and_the_photo_datasets():
    top = run("--help").output
    assert "real photos" in top and "bundled photo model" in top
    assert "bundled with nogancolor" in run("predict", "--help").output
    assert "bundled with nogancolor" in run("serve", "--help").output
    assert "Tiny-ImageNet" in run("data", "--help").output and "tinyimagenet" in run("data", "prepare", "--help").output
    for command in (["predict"], ["serve"], ["train", "nogan"], ["data", "prepare"], ["evaluate"]):
        text = run(*command, "--help").output
        assert "<bool>" not in text and "range>" not in text, command


def test_bad_checkpoints_are_refused_without_running_code(checkpoint, tmp_path):
    good = tmp_path / "good.jpg"
    Image.fromarray(photo()).save(good)
    config = json.loads(checkpoint.with_suffix(".json").read_text())
    marker = tmp_path / "pwned"

    class Payload:
        def __reduce__(self):
            return (Path.touch, (marker,))

    (tmp_path / "evil.safetensors").write_bytes(pickle.dumps({"weights": Payload()}))
    (tmp_path / "evil.json").write_text(json.dumps(config))
    (tmp_path / "payload.pth").write_bytes(pickle.dumps(Payload()))
    (tmp_path / "cut.safetensors").write_bytes(checkpoint.read_bytes()[:1000])
    (tmp_path / "cut.json").write_text(json.dumps(config))
    (tmp_path / "other.safetensors").write_bytes(checkpoint.read_bytes())
    (tmp_path / "other.json").write_text('{"format": "someone-else"}')
    for name, message in [("evil.safetensors", "could not be loaded"), ("payload.pth", "never loaded"),
                          ("cut.safetensors", "could not be loaded"), ("other.safetensors", "not a nogancolor generator")]:
        one_error_line(run("predict", good, "--model", tmp_path / name), message)
    assert not marker.exists()


def test_a_folder_keeps_names_does_the_good_files_and_lists_the_bad(checkpoint, tmp_path):
    src = tmp_path / "images"
    (src / "sub").mkdir(parents=True)
    Image.fromarray(photo(50, 40)).save(src / "a.png")
    Image.fromarray(photo(30, 70)).save(src / "sub" / "b.jpg")
    (src / "broken.png").write_text("oops")
    result = run("predict", src, "-o", tmp_path / "out", "--model", checkpoint)
    assert result.exit_code == 1
    assert "colorized 2 of 3" in result.output and "broken.png" in result.output and "1 of 3 inputs failed" in result.output
    assert Image.open(tmp_path / "out" / "a.png").size == (50, 40)
    assert Image.open(tmp_path / "out" / "sub" / "b.jpg").size == (30, 70)
    assert not (tmp_path / "out" / "broken.png").exists()


def test_compare_puts_gray_beside_colour(checkpoint, tmp_path):
    Image.fromarray(photo(50, 40)).save(tmp_path / "p.png")
    assert run("predict", tmp_path / "p.png", "--compare", "--model", checkpoint).exit_code == 0
    side = np.array(Image.open(tmp_path / "p_compare.png")).astype(int)
    assert side.shape == (40, 100, 3)
    left, right = side[:, :50], side[:, 50:]
    assert np.abs(left[..., 0] - left[..., 2]).max() == 0 and np.abs(right[..., 0] - right[..., 2]).mean() > 2


def test_without_runs_the_bundled_photo_model_is_used_and_said_so(checkpoint, tmp_path, monkeypatch):
    from nogancolor.apps import bundled

    monkeypatch.chdir(tmp_path)
    Image.fromarray(photo()).save("p.png")
    monkeypatch.setattr(bundled, "BUNDLED", tmp_path / "pkg" / "photo.safetensors")
    one_error_line(run("predict", "p.png"), "the bundled photo model is missing", "reinstall")
    card = {"metrics": {"set": "Imagenette val", "colorfulness_ratio": 0.5, "psnr_gain_db": 1.25}}
    path = bundled.bundle(checkpoint, card)
    assert path.stat().st_size < checkpoint.stat().st_size * 0.6  # fp16
    result = run("predict", "p.png")
    assert result.exit_code == 0 and Image.open("p_color.png").size == (120, 80), result.output
    assert result.output.strip().splitlines() == [  # one line: what was done, with which model, measured on what
        "colorized 1 of 1 with the photo model bundled with nogancolor, unet trained on tinycifar at 32x32 px; on "
        "Imagenette val: colourfulness 0.50x the truth's, RGB PSNR +1.25 dB over the gray input; render size 32 -> "
        "p_color.png"]
    one_error_line(run("predict", "missing.png"), "missing.png: no such file or folder")  # no notice before it
    path.write_bytes(b"not safetensors")
    one_error_line(run("predict", "p.png"), "could not be loaded as safetensors weights")


def test_without_model_the_best_trained_one_is_used(checkpoint, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    Image.fromarray(photo()).save("p.png")
    for name, method, psnr in [("unet-a", "unet", 20.0), ("nogan-a", "nogan", 18.0), ("nogan-b", "nogan", 19.0), ("dcgan", "dcgan", 30.0)]:
        (Path("runs") / name).mkdir(parents=True)
        (Path("runs") / name / "model.safetensors").write_bytes(checkpoint.read_bytes())
        config = dict(json.loads(checkpoint.with_suffix(".json").read_text()), method=method, metrics={"val_psnr": psnr})
        (Path("runs") / name / "model.json").write_text(json.dumps(config))
    assert find_model() == Path("runs/nogan-b/model.safetensors")
    result = run("predict", "p.png")
    assert result.exit_code == 0 and "runs/nogan-b/model.safetensors (nogan trained on tinycifar at 32x32 px; val PSNR 19.00 dB" in result.output
    (Path("runs") / "photo").mkdir()  # a model trained on photos comes before every thumbnail model
    (Path("runs") / "photo" / "model.safetensors").write_bytes(checkpoint.read_bytes())
    config = dict(json.loads(checkpoint.with_suffix(".json").read_text()), method="dcgan", img_size=[64, 64],
                  metrics={"val_psnr": 10.0})
    (Path("runs") / "photo" / "model.json").write_text(json.dumps(config))
    assert find_model() == Path("runs/photo/model.safetensors")


def make_video(path: Path, frames: list[np.ndarray], fps: int = 10):
    import av

    with av.open(str(path), "w") as out:
        stream = out.add_stream("mpeg4", rate=fps)
        stream.height, stream.width = frames[0].shape[:2]
        stream.pix_fmt = "yuv420p"
        for f in frames:
            out.mux(stream.encode(av.VideoFrame.from_ndarray(f, format="rgb24")))
        out.mux(stream.encode(None))


def read_video(path: Path):
    import av

    with av.open(str(path)) as v:
        stream = v.streams.video[0]
        return [f.to_ndarray(format="rgb24") for f in v.decode(stream)], stream.average_rate


def test_video_keeps_frames_and_fps_and_smoothing_calms_flicker(checkpoint, tmp_path):
    still = photo(64, 48)
    frames = [still if i % 2 else still[:, ::-1].copy() for i in range(12)]  # alternating: flicker
    make_video(tmp_path / "clip.mp4", frames, fps=10)
    assert run("predict", tmp_path / "clip.mp4", "--model", checkpoint, "-o", tmp_path / "raw.mp4").exit_code == 0
    assert run("predict", tmp_path / "clip.mp4", "--model", checkpoint, "--smooth", 0.8, "-o", tmp_path / "calm.mp4").exit_code == 0
    raw, fps = read_video(tmp_path / "raw.mp4")
    calm, _ = read_video(tmp_path / "calm.mp4")
    assert len(raw) == len(calm) == 12 and fps == 10 and raw[0].shape == (48, 64, 3)

    def chroma_jumps(video):
        ab = [rgb_to_lab(torch.from_numpy(f).permute(2, 0, 1)[None].float() / 255)[0, 1:] for f in video]
        return float(sum((a - b).abs().mean() for a, b in zip(ab, ab[1:])))

    assert chroma_jumps(calm) < 0.5 * chroma_jumps(raw)
    (tmp_path / "fake.mp4").write_text("not a video")
    one_error_line(run("predict", tmp_path / "fake.mp4", "--model", checkpoint), "not a readable video")


@pytest.mark.slow
def test_a_killed_folder_run_loses_nothing_and_the_rerun_does_only_the_rest(checkpoint, tmp_path):
    import os
    import signal
    import subprocess
    import sys
    import time

    src, out = tmp_path / "images", tmp_path / "out"
    src.mkdir()
    for i in range(200):
        Image.fromarray(photo(160, 120, seed=i)).save(src / f"{i:03d}.png")
    command = [sys.executable, "-m", "cli.main", "predict", str(src), "-o", str(out), "--model", str(checkpoint),
               "--batch-size", "2"]
    env = dict(os.environ, OMP_NUM_THREADS="1")
    proc = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    deadline = time.time() + 120
    while time.time() < deadline and proc.poll() is None and len(list(out.glob("*.png"))) < 40:
        time.sleep(0.005)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    finished = {p.name: p.stat().st_mtime_ns for p in out.glob("*.png")}
    assert 40 <= len(finished) < 200, "the run should have been killed partway"
    for name in finished:  # every file under a final name is a whole image
        with Image.open(out / name) as image:
            image.load()
            assert image.size == (160, 120)
    rerun = subprocess.run(command, env=env, capture_output=True, text=True, timeout=300)
    assert rerun.returncode == 0, rerun.stdout + rerun.stderr
    assert f"colorized {200 - len(finished)} of 200 ({len(finished)} skipped: already done" in rerun.stdout
    assert sorted(p.name for p in out.iterdir()) == [f"{i:03d}.png" for i in range(200)]  # no temporary files left
    assert all((out / name).stat().st_mtime_ns == mtime for name, mtime in finished.items())  # nothing redone
    again = subprocess.run(command + ["--overwrite"], env=env, capture_output=True, text=True, timeout=300)
    assert "colorized 200 of 200 with" in again.stdout


def test_the_bundling_script_measures_and_bundles_a_photo_model(checkpoint, prepared, tmp_path):
    import subprocess
    import sys

    script = Path(__file__).resolve().parent.parent / "benchmarks" / "bundle_photo_model.py"
    result = subprocess.run([sys.executable, str(script), str(checkpoint), "--data", str(prepared), "--n-full", "6",
                             "--command", "train unet (test)", "--bundle", "--dest", str(tmp_path / "photo.safetensors"),
                             "--render-sizes", "32,64"],
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    card = json.loads((tmp_path / "photo.json").read_text())["card"]
    stored, full = card["metrics"], card["metrics_full_size"]
    assert stored["set"] == "tinycifar test set (10 photos, 32 px as prepared)"
    assert full["set"].endswith("of its original colour files through predict")
    assert stored["colorfulness_ratio"] == pytest.approx(stored["colorfulness"] / stored["colorfulness_true"])
    assert stored["psnr_gain_db"] == pytest.approx(stored["psnr"] - stored["psnr_gray_input"])
    assert card["trained_with"] == "train unet (test)" and card["seed"] == 0
    rows = {line.split(" | ")[0]: line for line in result.stdout.splitlines() if line.startswith("| 32") or line.startswith("| 64")}
    assert set(rows) == {"| 32 (default)", "| 64"}  # the default render size is the training size, as the card measures
    assert rows["| 32 (default)"] == f"| 32 (default) | {full['colorfulness_ratio']:.2f}x | {full['psnr_gain_db']:+.2f} |"


def test_the_choosing_script_states_its_rule_measures_every_render_size_and_bundles_only_a_better_model(
        checkpoint, image_folder, tmp_path):
    import subprocess
    import sys

    benchmarks = Path(__file__).resolve().parent.parent / "benchmarks"
    sys.path.insert(0, str(benchmarks))
    try:
        import choose_photo_model as choosing
    finally:
        sys.path.remove(str(benchmarks))
    now = {"psnr_gain_db": 0.3, "colorfulness_ratio": 0.4}
    rows = [{"psnr_gain_db": 1.2, "colorfulness_ratio": 0.5}, {"psnr_gain_db": 1.0, "colorfulness_ratio": 0.7},
            {"psnr_gain_db": 0.5, "colorfulness_ratio": 0.9}, {"psnr_gain_db": 1.5, "colorfulness_ratio": 0.3}]
    assert choosing.choose(rows, now) is rows[1]  # the most colour among the better ones at +1.0 dB or more
    below = [{"psnr_gain_db": 0.2, "colorfulness_ratio": 0.95}, {"psnr_gain_db": 0.8, "colorfulness_ratio": 0.3},
             {"psnr_gain_db": 0.4, "colorfulness_ratio": 0.6}, {"psnr_gain_db": 0.9, "colorfulness_ratio": 0.5}]
    assert choosing.choose(below, now) is below[2]  # none reaches +1.0 dB: the most colour of those better on both
    assert choosing.choose(below[:2], now) is None  # each worse on one count: nothing
    import shutil

    for suffix in (".safetensors", ".json"):  # the model bundled now: the same weights, so not beaten at its own size
        shutil.copy(checkpoint.with_suffix(suffix), (tmp_path / "current").with_suffix(suffix))
    result = subprocess.run([sys.executable, str(benchmarks / "choose_photo_model.py"), str(checkpoint), "--render-sizes",
                             "32", "--n", "4", "--imagenette", str(image_folder / "test"), "--tinyimagenet",
                             str(image_folder / "train"), "--current", str(tmp_path / "current.safetensors"), "--bundle", "--dest",
                             str(tmp_path / "photo.safetensors"), "--out", str(tmp_path / "rows.json")],
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    measured = json.loads((tmp_path / "rows.json").read_text())
    assert [r["render_size"] for r in measured] == [32, 32]  # the current model at its own size, then each size
    assert measured[0]["sets"] == measured[1]["sets"]
    assert measured[0]["sets"]["imagenette-val"]["n_photos"] == 4 and measured[0]["sets"]["everyday"]["n_photos"] == 5
    assert "chosen by the rule: none" in result.stdout and not (tmp_path / "photo.safetensors").exists()


def test_a_bundled_render_size_is_predicts_default_for_that_model(checkpoint, tmp_path):
    from nogancolor.apps import bundled

    path = bundled.bundle(checkpoint, {"metrics": {}}, tmp_path / "photo.safetensors", render_size=96)
    assert json.loads(path.with_suffix(".json").read_text())["render_size"] == 96
    assert Colorizer.from_checkpoint(path, device="cpu").render_size == 96
    assert Colorizer.from_checkpoint(checkpoint, device="cpu").render_size == 32  # no card: its training size
