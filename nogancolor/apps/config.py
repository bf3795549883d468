"""`predict`'s and `serve`'s settings, each default declared once (the command line makes its
options from these fields); importable without torch, so the commands start at once."""

from dataclasses import dataclass

from ..config import check_temperature, setting

IMAGES_PER_CALL = 16  # images or video frames colorized in one model call
MODEL_HELP = ("An exported model.safetensors (default: the best trained under runs/ - photo models before "
              "thumbnail ones; NoGAN, then U-Net, then DCGAN - else the photo model bundled with nogancolor).")
TEMPERATURE_HELP = ("Colour-classification models (`train classify`): the annealed-mean temperature, lower for more "
                    "vivid colour, 1 for the colour distribution's mean (default: the model's own).")
VIVIDNESS_HELP = ("Colour-classification models: the share of their training's class rebalancing the decoding "
                  "keeps, from 1 (as trained: vivid, rarer colours) to 0 (undone: safer colour, closer to the "
                  "truth on average) (default: the model's own).")
RENDER_HELP = ("Working resolution the model sees, a multiple of 32 (default: the one its card measured best, else "
               "its training size). Colour is upsampled and joined with the full-resolution L.")


def check_render_size(render_size: int | None) -> None:
    if render_size is not None and (render_size < 32 or render_size % 32):
        raise ValueError(f"--render-size {render_size} is not a multiple of 32 of at least 32 (the U-Net halves it "
                         "five times); try 64, 128 or 256")


@dataclass(frozen=True)
class PredictConfig:
    model: str | None = setting(None, MODEL_HELP)
    render_size: int | None = setting(None, RENDER_HELP)
    temperature: float | None = setting(None, TEMPERATURE_HELP)
    vividness: float | None = setting(None, VIVIDNESS_HELP, min=0.0, max=1.0)
    compare: bool = setting(False, "Write gray input | colour side by side.")
    smooth: float = setting(0.0, "Videos: weight of the previous frame's colour (0 = off; 0.5 calms flicker).",
                            min=0.0, max=0.99)
    batch_size: int = setting(IMAGES_PER_CALL, "Images or frames per model call.", min=1)
    device: str | None = setting(None, "cpu, cuda, cuda:1 ... (default: cuda if available).")
    overwrite: bool = setting(False, "Folders: redo outputs that already exist (by default they are skipped, so an "
                              "interrupted run goes on where it stopped).")

    def __post_init__(self):
        check_render_size(self.render_size)
        check_temperature(self.temperature, "--temperature")


@dataclass(frozen=True)
class ServeConfig:
    host: str = setting("127.0.0.1", "Interface to bind; 127.0.0.1 keeps the page on this machine.")
    port: int = setting(8000, "Port of the web page.", min=1, max=65535)
    max_upload_mb: float = setting(20.0, "Uploads above this size are refused.", min=0.1)
    workers: int = setting(1, "Images colorized at the same time (threads beside the web server, which keeps "
                           "answering).", min=1)
    queue: int = setting(8, "Colorize requests admitted at once (uploading, waiting or running); more get 503 with "
                         "Retry-After.", min=1)
    render_size: int | None = setting(None, RENDER_HELP)
    device: str | None = setting(None, "cpu, cuda ... (default: cuda if available).")

    def __post_init__(self):
        check_render_size(self.render_size)
