import pytest
import torch
from torch import nn

from nogancolor.models import UNet, build_generator, dynamic_unet


@pytest.mark.parametrize("size", [32, 64, 96])
def test_unet_keeps_size_and_outputs_ab_in_tanh_range(size):
    model = UNet(base=8).eval()
    y = model(torch.randn(2, 1, size, size) * 3)
    assert y.shape == (2, 2, size, size)
    assert y.abs().max() <= 1


def test_unet_rejects_sizes_not_divisible_by_its_depth():
    with pytest.raises(ValueError, match="divisible"):
        UNet(base=8, depth=5)(torch.randn(2, 1, 48, 40))
    assert UNet(base=8, depth=3)(torch.randn(2, 1, 24, 40)).shape == (2, 2, 24, 40)


def test_unet_layer_structure_follows_the_method_description():
    model = UNet(base=64, depth=5)
    convs = [block[0] for block in model.downs]
    assert [c.out_channels for c in convs] == [64, 128, 256, 512, 512]  # doubling, capped at 8x base
    assert all(c.kernel_size == (4, 4) and c.stride == (2, 2) for c in convs)
    assert not any(isinstance(m, nn.BatchNorm2d) for m in model.downs[0])
    assert all(isinstance(block[1], nn.BatchNorm2d) for block in model.downs[1:])
    assert all(isinstance(block[-1], nn.LeakyReLU) and block[-1].negative_slope == 0.2 for block in model.downs)
    ups = list(model.ups)
    assert all(u.up.kernel_size == (4, 4) and u.up.stride == (2, 2) for u in ups)
    assert all(isinstance(u.up, nn.ConvTranspose2d) and isinstance(u.act, nn.ReLU) for u in ups)
    # batch norm after the concatenation: it normalizes the upsampled and the mirrored channels
    assert [u.norm.num_features for u in ups] == [1024, 512, 256, 128, 65]
    head_conv, head_act = model.head
    assert head_conv.kernel_size == (1, 1) and head_conv.out_channels == 2 and isinstance(head_act, nn.Tanh)


def test_unet_training_flops_match_the_budget_in_the_speed_goal():
    from torch.utils.flop_counter import FlopCounterMode

    model = UNet()
    with FlopCounterMode(display=False) as counter:
        model(torch.randn(2, 1, 32, 32)).sum().backward()
    assert counter.get_total_flops() / 2 / 1e9 == pytest.approx(0.7, abs=0.02)


@pytest.mark.parametrize("arch", ["resnet18", "resnet34"])
@pytest.mark.parametrize("size", [32, 64])
def test_dynamic_unet_shapes(arch, size):
    model = dynamic_unet(arch, img_size=(size, size)).eval()
    y = model(torch.randn(2, 1, size, size))
    assert y.shape == (2, 2, size, size) and y.abs().max() <= 1


def test_timm_encoders_work_too_and_unknown_names_are_refused():
    assert build_generator("resnet10t", img_size=(32, 32)).eval()(torch.randn(1, 1, 32, 32)).shape == (1, 2, 32, 32)
    with pytest.raises(ValueError, match="unknown encoder"):
        build_generator("not_a_net")
