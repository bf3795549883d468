import pytest
import torch
from fastai.callback.core import Callback

from nogancolor.data import colorization_dls
from nogancolor.methods.dcgan import DCGANConfig, dcgan_learner
from nogancolor.models import UNet
from nogancolor.models.critics import PairDiscriminator
from nogancolor.train.gan import ConditionedCritic


def snapshot(module):
    return [p.detach().clone() for p in module.parameters()]


def changed(before, module):
    return any(not torch.equal(a, b) for a, b in zip(before, module.parameters()))


class Spy(Callback):
    """Records, per training batch, the mode and the gray input the critic was given."""

    order = 99

    def before_fit(self):
        self.seen = []

    def after_loss(self):
        if self.training:
            critic = self.learn.model.critic
            self.seen.append((self.learn.model.gen_mode, critic.gray, self.learn.adversarial_loss.parts.copy()))


@pytest.fixture
def learn(prepared):
    torch.manual_seed(0)
    dls = colorization_dls(prepared, "hue", bs=8)
    return dcgan_learner(dls, UNet(base=8), PairDiscriminator(base=8), DCGANConfig(l1_weight=100, real_label=0.9, d_steps=1))


def test_a_few_gan_steps_change_both_networks_and_stay_finite(learn):
    g_before, d_before = snapshot(learn.model.generator), snapshot(learn.model.critic)
    spy = Spy()
    with learn.no_bar(), learn.no_logging():
        learn.fit(2, 2e-4, cbs=spy)
    assert changed(g_before, learn.model.generator) and changed(d_before, learn.model.critic)
    modes = [mode for mode, _, _ in spy.seen]
    assert True in modes and False in modes  # alternating generator and critic steps
    parts = spy.seen[-1][2]
    assert all(torch.isfinite(v) for v in parts.values())


def test_the_critic_judges_pairs_with_the_batch_gray_input(learn):
    spy = Spy()
    with learn.no_bar(), learn.no_logging():
        learn.fit(1, 2e-4, cbs=spy)
    for gen_mode, gray, _ in spy.seen:
        assert gray is not None and gray.shape[1] == 1  # L, never the ab target
    with pytest.raises(RuntimeError, match="no gray input"):
        ConditionedCritic(PairDiscriminator(base=8))(torch.randn(2, 2, 32, 32))


def test_lambda_and_label_smoothing_reach_the_losses(learn):
    loss = learn.adversarial_loss
    logits, fake, target = torch.zeros(4), torch.full((4, 2, 2, 2), 0.5), torch.zeros(4, 2, 2, 2)
    total = loss.generator(logits, fake, target)
    assert total.item() == pytest.approx(float(loss.parts["g_adversarial"]) + 100 * 0.5, rel=1e-6)
    loss.content_weight = 10
    assert loss.generator(logits, fake, target).item() == pytest.approx(float(loss.parts["g_adversarial"]) + 5, rel=1e-6)
    smoothed = loss.critic(torch.full((4,), 3.0), torch.full((4,), -3.0))
    loss.real_label = 1.0
    hard = loss.critic(torch.full((4,), 3.0), torch.full((4,), -3.0))
    assert smoothed.item() > hard.item()  # 0.9 targets penalise a confident real logit
    assert float(loss.parts["d_accuracy"]) == 1.0


def test_loss_parts_are_logged_per_epoch_beside_val_metrics(learn, tmp_path):
    import csv

    from fastai.callback.progress import CSVLogger

    learn.path = tmp_path
    with learn.no_bar():
        learn.fit(2, 2e-4, cbs=CSVLogger(fname="history.csv"))
    with open(tmp_path / "history.csv") as f:
        rows = list(csv.DictReader(f))
    assert [r["epoch"] for r in rows] == ["0", "1"]
    for row in rows:
        assert float(row["g_l1"]) > 0
        assert float(row["d_real"]) > 0 and float(row["d_fake"]) > 0 and float(row["g_adversarial"]) > 0
        assert float(row["psnr"]) > 5 and row["time"]
    # validation does not mix into the training means, and validate() reports no parts
    assert learn.validate()[-len(learn.adversarial_loss.parts_names):] == [None] * 5


def test_dcgan_run_writes_history_checkpoints_and_a_loadable_generator(prepared, tmp_path):
    import csv

    from nogancolor.methods import train
    from nogancolor.methods.dcgan import DCGANConfig
    from nogancolor.models import load_generator

    run = tmp_path / "run"
    config = train(DCGANConfig(data=str(prepared), epochs=2, bs=8, base=8), run, progress=False)
    with open(run / "history.csv") as f:
        rows = list(csv.DictReader(f))
    assert [r["epoch"] for r in rows] == ["0", "1"] and "d_accuracy" in rows[0]
    assert {"last.pth", "last.json"} <= {p.name for p in (run / "checkpoints").iterdir()}
    assert (run / "val_grid.png").exists()
    assert config["method"] == "dcgan" and config["metrics"]["val_psnr"] > 5
    generator, loaded = load_generator(run / "model.safetensors")
    assert loaded["method"] == "dcgan" and generator(torch.randn(2, 1, 32, 32)).shape == (2, 2, 32, 32)


def test_dcgan_run_resumes_after_an_interrupt(prepared, tmp_path, monkeypatch):
    import nogancolor.methods.dcgan as training
    from nogancolor.methods import train

    class Interrupt(Callback):
        order = 99

        def after_epoch(self):
            if self.epoch == 0:
                raise KeyboardInterrupt

    original = training.dcgan_learner
    monkeypatch.setattr(training, "dcgan_learner", lambda *a, **k: original(*a, **k).add_cb(Interrupt()))
    run = tmp_path / "run"
    with pytest.raises(KeyboardInterrupt):
        train(DCGANConfig(data=str(prepared), epochs=2, bs=8, base=8), run, progress=False)
    monkeypatch.setattr(training, "dcgan_learner", original)
    train(DCGANConfig(data=str(prepared)), run, resume=True, progress=False)
    with open(run / "history.csv") as f:
        assert [line.split(",")[0] for line in f.read().splitlines()] == ["epoch", "0", "1"]


def test_logged_validation_psnr_is_the_generator_in_eval_mode(learn):
    from nogancolor.evaluation.metrics import val_metrics

    with learn.no_bar(), learn.no_logging():
        learn.fit(1, 2e-4)
    running_mean = [m.running_mean.clone() for m in learn.model.generator.modules() if hasattr(m, "running_mean")]
    logged = learn.recorder.values[-1][learn.recorder.metric_names[1:].index("psnr")]
    assert logged == pytest.approx(val_metrics(learn.dls.valid, learn.model.generator)["psnr"], abs=1e-3)
    learn.validate()
    after = [m.running_mean for m in learn.model.generator.modules() if hasattr(m, "running_mean")]
    assert all(torch.equal(a, b) for a, b in zip(running_mean, after))  # validation does not train batch norm


def test_the_discriminator_stays_in_train_mode_while_judging_fakes(learn):
    modes = []

    class Spy(Callback):
        order = 99

        def after_loss(self):
            if self.training and self.learn.model.gen_mode:
                modes.append(self.learn.model.critic.training)

    with learn.no_bar(), learn.no_logging():
        learn.fit(1, 2e-4, cbs=Spy())
    assert modes and all(modes)  # batch-norm statistics of the judged batch, as in pix2pix


def test_rgb_output_variant_trains_in_rgb_and_exports_as_ab(prepared, tmp_path):
    from nogancolor.methods import train
    from nogancolor.models import RGBAsAB, load_generator

    class TargetSpy(Callback):
        order = 99

        def before_fit(self):
            self.shapes = set()

        def after_pred(self):
            if self.training and self.learn.model.gen_mode:
                self.shapes.add((self.pred.shape[1], self.yb[0].shape[1]))

    config = train(DCGANConfig(data=str(prepared), epochs=1, bs=8, base=8, output="rgb"), tmp_path / "rgb", progress=False)
    assert config["output"] == "rgb" and config["metrics"]["val_psnr"] > 5
    model, _ = load_generator(tmp_path / "rgb" / "model.safetensors")
    assert isinstance(model, RGBAsAB)
    x = torch.randn(2, 1, 32, 32)
    ab = model(x)
    assert ab.shape == (2, 2, 32, 32) and ab.abs().max() <= 1.0
    dls = colorization_dls(prepared, "hue", bs=8)
    learn = dcgan_learner(dls, UNet(out_channels=3, base=8), PairDiscriminator(color_channels=3, base=8), DCGANConfig(output="rgb"))
    spy = TargetSpy()
    with learn.no_bar(), learn.no_logging():
        learn.fit(1, 2e-4, cbs=spy)
    assert spy.shapes == {(3, 3)}  # RGB prediction against an RGB target


def test_the_dcgans_generator_can_be_any_of_the_projects_generators(prepared, tmp_path):
    """The pretrained photo study gives the U-Net, the DCGAN and NoGAN the same DynamicUnet;
    --deoldify builds it as DeOldify's, which NoGAN does by default and the others on request."""
    from nogancolor.methods import train
    from nogancolor.methods.dcgan import DCGANMethod
    from nogancolor.methods.nogan import NoGANConfig
    from nogancolor.methods.nogan.stages import GeneratorPretraining
    from nogancolor.methods.unet import UNetConfig, UNetMethod
    from nogancolor.models import load_generator
    from nogancolor.models.names import DEOLDIFY_UNET

    config = DCGANConfig(data=str(prepared), arch="resnet18", deoldify=True, epochs=1, bs=8, base=8)
    assert DCGANMethod.run_name(config) == "dcgan-resnet18-hue"
    record = train(config, tmp_path / "dyn", progress=False)
    assert (record["arch"], record["arch_kwargs"]) == ("resnet18", DEOLDIFY_UNET)
    generator, _ = load_generator(tmp_path / "dyn" / "model.safetensors")
    assert generator(torch.randn(2, 1, 32, 32)).shape == (2, 2, 32, 32)
    assert UNetMethod(UNetConfig(arch="resnet18"), tmp_path).generator_kwargs() == {}
    assert UNetMethod(UNetConfig(arch="resnet18", deoldify=True), tmp_path).generator_kwargs() == DEOLDIFY_UNET
    assert GeneratorPretraining(NoGANConfig(arch="resnet18"), tmp_path, None).generator_kwargs() == DEOLDIFY_UNET
    assert GeneratorPretraining(NoGANConfig(arch="resnet18", deoldify=False), tmp_path, None).generator_kwargs() == {}
