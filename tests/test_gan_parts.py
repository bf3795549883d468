import math

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from nogancolor.models.critics import PairDiscriminator
from nogancolor.models.losses import discriminator_loss, generator_loss


@pytest.mark.parametrize("size", [32, 64])
@pytest.mark.parametrize("color_channels", [2, 3])
def test_pair_discriminator_gives_one_logit_per_image(size, color_channels):
    d = PairDiscriminator(color_channels=color_channels, base=8)
    logits = d(torch.randn(4, 1, size, size), torch.randn(4, color_channels, size, size))
    assert logits.shape == (4,)


def test_pair_discriminator_structure_and_that_it_sees_the_gray_input():
    d = PairDiscriminator(base=8).eval()
    convs = [m for m in d.body if isinstance(m, nn.Conv2d)]
    assert convs[0].in_channels == 3 and all(c.kernel_size == (4, 4) for c in convs)
    assert [c.stride for c in convs[:-1]] == [(2, 2)] * 3
    assert not isinstance(d.body[1], nn.BatchNorm2d) and isinstance(d.body[3], nn.BatchNorm2d)
    assert all(m.negative_slope == 0.2 for m in d.body if isinstance(m, nn.LeakyReLU))
    color = torch.randn(2, 2, 32, 32)
    assert not torch.allclose(d(torch.zeros(2, 1, 32, 32), color), d(torch.ones(2, 1, 32, 32), color))


def test_generator_loss_against_hand_computed_values():
    logits = torch.tensor([0.0, 2.0])
    fake, target = torch.tensor([0.5, -0.5]), torch.tensor([0.0, 0.0])
    total, adversarial, l1 = generator_loss(logits, fake, target, l1_weight=100)
    expected_adv = (-math.log(0.5) - math.log(1 / (1 + math.exp(-2)))) / 2
    assert adversarial.item() == pytest.approx(expected_adv, rel=1e-6)
    assert l1.item() == pytest.approx(0.5)
    assert total.item() == pytest.approx(expected_adv + 50, rel=1e-6)
    assert generator_loss(logits, fake, target, l1_weight=10)[0].item() == pytest.approx(expected_adv + 5, rel=1e-6)


def test_discriminator_loss_against_hand_computed_values_with_label_smoothing():
    real, fake = torch.tensor([1.0]), torch.tensor([-1.0])
    s = lambda z: 1 / (1 + math.exp(-z))  # noqa: E731
    total, on_real, on_fake = discriminator_loss(real, fake, real_label=0.9)
    assert on_real.item() == pytest.approx(-(0.9 * math.log(s(1)) + 0.1 * math.log(1 - s(1))), rel=1e-6)
    assert on_fake.item() == pytest.approx(-math.log(1 - s(-1)), rel=1e-6)
    assert total.item() == pytest.approx(on_real.item() + on_fake.item())
    assert discriminator_loss(real, fake, real_label=1.0)[1].item() == pytest.approx(-math.log(s(1)), rel=1e-6)


def test_losses_stay_finite_for_extreme_logits():
    huge = torch.tensor([1e4, -1e4])
    assert torch.isfinite(discriminator_loss(huge, -huge)[0])
    assert torch.isfinite(generator_loss(-huge, torch.zeros(2), torch.zeros(2))[0])


@pytest.mark.parametrize("balance", [0.5, 2.0])
def test_balanced_adversarial_weight_sets_the_gradient_ratio_at_the_output(balance):
    from nogancolor.train.gan import AdversarialLoss

    torch.manual_seed(0)
    output, target, w = torch.randn(3, 2, 4, 4, requires_grad=True), torch.randn(3, 2, 4, 4), torch.randn(2, 4, 4)
    logits = lambda out: (out * w).sum((1, 2, 3))  # noqa: E731: a linear critic
    loss = AdversarialLoss(F.mse_loss, "g_mse", content_weight=3.0, adv_balance=balance)
    total = loss.generator(logits(output), output, target)
    weight = float(loss.parts["g_adv_weight"])
    adv_grad = torch.autograd.grad(generator_loss(logits(output), output, target)[1], output)[0]
    content_grad = torch.autograd.grad(3.0 * F.mse_loss(output, target), output)[0]
    assert (weight * adv_grad).norm().item() == pytest.approx(balance * content_grad.norm().item(), rel=1e-5)
    # the weight is a constant of the step: the total's gradient is weight * adversarial's + content's
    assert torch.allclose(torch.autograd.grad(total, output)[0], weight * adv_grad + content_grad, atol=1e-6)
    with torch.no_grad():  # validation has no gradient: it reuses the last step's weight
        output2 = output + 1
        valid = loss.generator(logits(output2), output2, target)
        adversarial, content = generator_loss(logits(output2), output2, target, content=F.mse_loss)[1:]
    assert valid.item() == pytest.approx(weight * adversarial.item() + 3.0 * content.item(), rel=1e-5)
    assert "g_adv_weight" in loss.parts_names and "g_adv_weight" not in AdversarialLoss().parts_names


def test_a_gan_fit_warns_nothing_about_shadowed_attributes(prepared):
    """fastai's Callback warns when GANTrainer keeps generator/critic/gen_mode on itself, in every
    fit of a notebook; our trainer sets them quietly, and other warnings still show."""
    import warnings

    from nogancolor.data import colorization_dls
    from nogancolor.methods.dcgan import dcgan_learner
    from nogancolor.models import UNet
    from nogancolor.train.learner import for_device
    from nogancolor.train.on_device import DeviceGANTrainer

    # set up as run_training sets up every run (for_device puts our trainer in fastai's place)
    learn = for_device(dcgan_learner(colorization_dls(prepared, "hue", bs=8), UNet(base=4), PairDiscriminator(base=4)))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        with learn.no_bar(), learn.no_logging():
            learn.fit(1, 1e-3)
        learn.gan_trainer.metrics = []  # a name the learner has, not one of the trainer's own: still warned
    shadowing = [str(w.message) for w in caught if "shadowing" in str(w.message)]
    assert shadowing == ["You are shadowing an attribute (metrics) that exists in the learner. Use `self.learn.metrics` "
                         "to avoid this"]
    assert isinstance(learn.gan_trainer, DeviceGANTrainer) and learn.gan_trainer.gen_mode in (True, False)
