"""Why the DCGAN keeps its discriminator in train mode: fastai's default vs ours, same data and seed.

    python benchmarks/gan_critic_mode.py --data data/cifar10 [--n-train 4000] [--epochs 2]

fastai's GANLearner default (switch_eval=True) puts the network being judged in eval mode, so the
discriminator scores fakes with batch-norm running statistics during generator steps. This
trains both settings and prints the discriminator's accuracy, the generator's adversarial loss
in the last epoch, and the generator's val ab MSE / PSNR in eval mode.
"""

import argparse

from fastai.torch_core import set_seed

from nogancolor.models.critics import PairDiscriminator
from nogancolor.data import colorization_dls
from nogancolor.methods.dcgan import dcgan_learner
from nogancolor.evaluation.metrics import val_metrics
from nogancolor.models import UNet
from nogancolor.train.learner import for_device


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", default="data/cifar10")
    ap.add_argument("--n-train", type=int, default=4000)
    ap.add_argument("--n-val", type=int, default=1000)
    ap.add_argument("--epochs", type=int, default=2)
    args = ap.parse_args()
    print("| switch_eval | D accuracy | G adversarial | val ab MSE | val PSNR (dB) |")
    print("|---|---|---|---|---|")
    for switch_eval in (True, False):
        set_seed(0, reproducible=True)
        dls = colorization_dls(args.data, "hue", bs=64, n_train=args.n_train, n_val=args.n_val)
        learn = for_device(dcgan_learner(dls, UNet(), PairDiscriminator(), switch_eval=switch_eval))
        with learn.no_bar(), learn.no_logging():
            learn.fit(args.epochs, 2e-4)
        last = dict(zip(learn.recorder.metric_names[1:-1], learn.recorder.values[-1]))
        val = val_metrics(dls.valid, learn.model.generator)
        print(f"| {switch_eval} | {last['d_accuracy']:.3f} | {last['g_adversarial']:.3f} | {val['ab_mse']:.4f} | {val['psnr']:.2f} |")


if __name__ == "__main__":
    main()
