"""The study's scales (profiles): the classifier's and each compared method's config, how many
images evaluation uses and the image size they are meant for. Light to import: the command line
lists them at once."""

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path

from ..methods import REGISTRY, by_rank
from ..methods.classifier import ClassifierConfig
from ..config import config_from_record, config_record, digest_record

SPLITS = ("hue", "random")


@dataclass(frozen=True)
class Profile:
    """A study's scale: the classifier's and each compared method's config (a run's data, split
    and seed are set per run), and how many images evaluation uses."""

    name: str
    classifier: ClassifierConfig = field(default_factory=ClassifierConfig)
    configs: dict = field(default_factory=dict)  # method name -> its config
    n_eval: int | None = None  # evaluate on this many evenly spaced images per set; None: all
    size: int = 32  # the prepared image size the profile is meant for (`data prepare --size`)

    def record(self) -> dict:
        return {"n_eval": self.n_eval, "size": self.size, "classifier": config_record(self.classifier),
                **{name: config_record(config) for name, config in self.configs.items()}}

    def digest(self, method: str | None = None) -> str:
        """Hash of the training configs that names a method's run folder (None: the classifier's):
        its own config, and the classifier's when the method trains on it (a `classifier` setting)."""
        training = {"classifier": digest_record(self.classifier)}
        if method is not None:
            config = self.configs[method]
            if not REGISTRY[method].method.trains_on_classifier:
                training = {}
            training[method] = digest_record(config)
        return hashlib.sha256(json.dumps(training, sort_keys=True).encode()).hexdigest()[:8]

    def run_folder(self, runs: Path, method: str | None = None) -> Path:
        """runs/compare-<profile>/<method>-<digest> (None: the classifier's); seeds and splits of
        a method lie inside it."""
        return Path(runs) / f"compare-{self.name}" / f"{method or 'classifier'}-{self.digest(method)}"


def profile_from_record(name: str, record: dict) -> Profile:
    """A profile from a JSON record of Profile.record()'s shape (a `--config` file; tests use tiny
    ones): every compared method's config, the classifier's, n_eval and size."""
    unknown = sorted(set(record) - {*REGISTRY, "classifier", "n_eval", "size"})
    if unknown or "classifier" not in record:
        raise ValueError(f"a profile record has a config for the classifier and any of {', '.join(REGISTRY)} "
                         f"(and n_eval, size); got {', '.join(sorted(record))}")
    configs = {m: config_from_record(REGISTRY[m].config, record[m], f"the profile's {m} config")
               for m in REGISTRY if m in record}
    return Profile(name, config_from_record(ClassifierConfig, record["classifier"], "the profile's classifier config"),
                   configs, record.get("n_eval"), record.get("size", Profile.size))


# Each profile's own settings; each method's config in it comes from the method (`profiles`).
# quick: a CIFAR-10 subset and few epochs (about 24 minutes a seed on a 2-core CPU); full: the method
# descriptions' scale, all images and tens of epochs (batches of 256 keep a GPU busy: at 64 its
# steps are launch-bound); photo: Imagenette prepared at 64 px, both splits of all methods in about
# an hour a seed on a 2-core CPU (34 min without colour classification); photo-full: the same at
# 128 px with all photos, for a GPU; photo-pretrained:
# photos at 64 px (Tiny-ImageNet's), every generator the same ImageNet-pretrained DynamicUnet, evaluated on
# 500 photos per set (at 1,000 its evaluation, about 43 s a run and set on a 2-core CPU, took a seed past the hour).
SCALES = {"quick": dict(n_eval=2000), "full": {}, "photo": dict(n_eval=1000, size=64), "photo-full": dict(size=128),
          "photo-pretrained": dict(n_eval=500, size=64)}


def registered_profile(name: str) -> Profile:
    """The profile `name`: the classifier's config and each compared method's, as they declare them."""
    compared = {r.name: r.method.profiles[name] for r in by_rank() if name in r.method.profiles}
    return Profile(name, REGISTRY["classifier"].method.profiles[name], compared, **SCALES[name])


PROFILES = {name: registered_profile(name) for name in SCALES}
