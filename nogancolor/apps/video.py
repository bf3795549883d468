"""Colorize a video frame by frame with PyAV (FFmpeg): frames batched, frame rate kept, and an
optional exponential moving average of ab over frames against colour flicker."""

from pathlib import Path

import torch
from fastprogress.fastprogress import progress_bar

from ..files import atomic_write
from .colorize import Colorizer, ImageError
from .config import IMAGES_PER_CALL


def _codec(suffix: str) -> str:
    import av

    wanted = ["libvpx-vp9", "libvpx"] if suffix == ".webm" else ["libx264", "h264", "mpeg4"]
    return next((c for c in wanted if c in av.codecs_available), "mpeg4")


def _batches(frames, n: int):
    batch = []
    for frame in frames:
        batch.append(frame)
        if len(batch) == n:
            yield batch
            batch = []
    if batch:
        yield batch


def colorize_video(colorizer: Colorizer, src: Path, dst: Path, smooth: float = 0.0, batch_size: int = IMAGES_PER_CALL,
                   progress: bool = True) -> int:
    """Write the colorized video to `dst` (via a temporary file, renamed when complete); -> frames.
    `smooth` in [0, 1): weight of the previous frame's ab (0 = off). Odd frame sizes lose their
    last row/column (the yuv420p pixel format needs even sizes)."""
    import av

    if not 0 <= smooth < 1:
        raise ValueError(f"smoothing must be in [0, 1), got {smooth}")
    src, dst = Path(src), Path(dst)
    try:
        container = av.open(str(src))
        stream = container.streams.video[0]
    except (av.error.FFmpegError, IndexError) as e:
        raise ImageError(f"{src}: not a readable video ({e.__class__.__name__})") from e
    n_done, previous = 0, None
    try:
        with atomic_write(dst, keep_suffix=True) as tmp, container, av.open(str(tmp), "w") as out:
            width, height = stream.codec_context.width // 2 * 2, stream.codec_context.height // 2 * 2
            ostream = out.add_stream(_codec(dst.suffix.lower()), rate=stream.average_rate or 25)
            ostream.width, ostream.height, ostream.pix_fmt = width, height, "yuv420p"
            bar = progress_bar(range(stream.frames), leave=False) if progress and stream.frames else None
            for batch in _batches(container.decode(stream), batch_size):
                rgb = torch.stack([torch.from_numpy(f.to_ndarray(format="rgb24")[:height, :width]).permute(2, 0, 1) for f in batch])
                (l_norm, ab), = colorizer.predict([rgb])
                if smooth:
                    for i in range(len(ab)):
                        if previous is not None:
                            ab[i] = (1 - smooth) * ab[i] + smooth * previous
                        previous = ab[i]
                for image in colorizer.compose(l_norm, ab):
                    frame = av.VideoFrame.from_ndarray(image.permute(1, 2, 0).numpy(), format="rgb24")
                    out.mux(ostream.encode(frame))
                n_done += len(batch)
                if bar is not None:
                    bar.update(min(n_done, stream.frames))
                    bar.comment = f"{n_done} of {stream.frames} frames"
            out.mux(ostream.encode(None))
            if not n_done:
                raise ImageError(f"{src}: no video frames found")
    except av.error.FFmpegError as e:
        raise ImageError(f"{src}: video could not be processed ({e})") from e
    return n_done
