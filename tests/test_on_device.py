"""Batches gathered on the device, and training steps that read nothing back to the host."""

import pytest
import torch
from fastai.torch_core import set_seed
from test_nogan_parts import Doubling

from nogancolor.data import colorization_dls, load_prepared, load_split
from nogancolor.data.splits import split_path
from nogancolor.data.labelled import classifier_dls
from nogancolor.train.learner import classifier_learner
from nogancolor.methods.dcgan import dcgan_learner
from nogancolor.methods.nogan import critic_learner, joint_learner
from nogancolor.models import UNet
from nogancolor.models.classifier import CifarNet
from nogancolor.models.critics import PairCritic, PairDiscriminator
from nogancolor.models.features import FrozenFeatures
from nogancolor.train.learner import colorization_learner, for_device
from nogancolor.train.on_device import count_host_reads


def test_batches_are_the_split_s_images_each_once_per_epoch(prepared):
    dls = colorization_dls(prepared, "hue", bs=4)
    images, _, _ = load_prepared(prepared)
    train_idx, val_idx, _ = load_split(split_path(prepared, "hue"))
    # every validation image exactly once, in split order; L is the luminance of that image
    seen = torch.cat([x for x, _ in dls.valid])
    expected = dls.valid.after_batch((images[val_idx], images[val_idx]))[0]
    assert torch.equal(seen, expected)
    # training: full batches only (drop_last), no image twice, all from the training split
    batches = [x for x, _ in dls.train]
    assert len(batches) == len(dls.train) == len(train_idx) // 4 and all(len(b) == 4 for b in batches)
    train_l = dls.train.after_batch((images[train_idx], images[train_idx]))[0]
    rows = torch.cat(batches).flatten(1)
    matches = (rows[:, None] == train_l.flatten(1)[None]).all(-1)
    assert (matches.sum(1) >= 1).all() and len(set(matches.float().argmax(1).tolist())) == len(rows)


def test_same_seed_same_batches_and_epochs_differ(prepared):
    def epochs(seed):
        set_seed(seed)
        dls = colorization_dls(prepared, "random", bs=4)
        return [torch.cat([y for _, y in dls.train]) for _ in range(2)]

    first, again, other = epochs(0), epochs(0), epochs(1)
    assert all(torch.equal(a, b) for a, b in zip(first, again))
    assert not torch.equal(first[0], first[1]) and not torch.equal(first[0], other[0])


def test_test_dl_and_classifier_batches_come_from_the_same_path(prepared):
    dls = colorization_dls(prepared, "hue", bs=4)
    (x,) = dls.test_dl([0, 1, 2]).one_batch()
    assert x.shape == (3, 1, 32, 32)
    cdls = classifier_dls(prepared, bs=4)
    images, labels = cdls.valid.one_batch()
    test_images, test_labels, _ = load_prepared(prepared, "test")
    assert torch.equal(labels, test_labels[:4].long()) and torch.allclose(images, test_images[:4].float() / 255)


def reads_per_fit(learn, n_batches: int) -> int:
    """Host reads of one fit of one epoch whose training stops after `n_batches` batches."""
    from nogancolor.train.callbacks import TrainBatchesPerEpoch

    with count_host_reads() as reads, learn.no_bar(), learn.no_logging():
        learn.fit(1, 1e-4, cbs=TrainBatchesPerEpoch(n_batches))
    return reads.count


def learners(prepared):
    torch.manual_seed(0)
    dls = colorization_dls(prepared, "hue", bs=2)
    features = FrozenFeatures(Doubling(), layer_weights=(1.0, 1.0))
    plain = {
        "unet": colorization_learner(dls, UNet(base=4), log=False, grid=False),
        "dcgan": dcgan_learner(dls, UNet(base=4), PairDiscriminator(base=4)),
        "critic": critic_learner(dls, UNet(base=4), PairCritic(nf=4), log=False),
        "classifier": classifier_learner(classifier_dls(prepared, bs=2), CifarNet(base=4), log=False),
        "nogan-joint": joint_learner(dls, UNet(base=4), PairCritic(nf=4), features, log=False),
    }
    return {name: for_device(learn) for name, learn in plain.items()}  # as run_training sets up every run


@pytest.mark.parametrize("name", ["unet", "dcgan", "critic", "classifier", "nogan-joint"])
def test_training_steps_read_nothing_back_to_the_host(prepared, name):
    """Three times the training steps, the same reads: none per step, only per fit and epoch.
    NoGAN's joint phase is the exception by design: its adaptive switcher compares the loss of
    each critic step with a threshold on the host, one read per critic step."""
    learn = learners(prepared)[name]
    reads_per_fit(learn, 2)  # warm-up: lazy set-up (data on the device, first-call caches)
    few = reads_per_fit(learn, 3)
    few_critic_steps = len(getattr(getattr(learn, "gan_trainer", None), "crit_losses", []))
    more = reads_per_fit(learn, 9)
    more_critic_steps = len(getattr(getattr(learn, "gan_trainer", None), "crit_losses", []))
    assert more - few == (more_critic_steps - few_critic_steps if name == "nogan-joint" else 0)
    if name == "nogan-joint":
        assert more_critic_steps > few_critic_steps  # the exception was exercised


def test_the_counter_sees_reads():
    x = torch.ones(3)
    with count_host_reads() as reads:
        x.sum().item()
        bool(x.sum() > 0)
        f"{x.sum():.2f}"
        x.cpu()  # a copy to the host on a GPU; counted on any device
        x.to("cpu")  # placing on the device it is on already: no read
        (x + 1).mul(2)  # no read
    assert reads.count == 4


def test_get_preds_and_show_results_see_every_validation_image_in_order(prepared):
    import matplotlib

    matplotlib.use("Agg")
    torch.manual_seed(0)
    dls = colorization_dls(prepared, "hue", bs=3)
    learn = for_device(colorization_learner(dls, UNet(base=4), log=False, grid=False), "fp32")  # compared to 1e-6 below
    with learn.no_bar():
        inputs, preds, targets = learn.get_preds(with_input=True)
    images, _, _ = load_prepared(prepared)
    val_idx = load_split(split_path(prepared, "hue"))[1]
    expected_l, expected_ab = dls.valid.after_batch((images[val_idx], images[val_idx]))
    assert torch.equal(inputs, expected_l) and torch.equal(targets, expected_ab)
    with torch.no_grad():
        assert torch.allclose(preds, learn.model.eval()(expected_l), atol=1e-6)
    learn.show_results(max_n=2)
