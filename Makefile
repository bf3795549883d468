# Our machines: only this torch/torchvision pair imports together (a local copy, no download).
# Users elsewhere can `pip install -e .` with any torch the pyproject ranges allow.
TORCH_PAIR := torch==2.14.1 torchvision==0.29.1
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
NOGANCOLOR := $(VENV)/bin/nogancolor
DATA_SOURCE := $(if $(NOGANCOLOR_DATA),--path $(NOGANCOLOR_DATA),)
PROFILE ?= quick
SEEDS ?= 0

.PHONY: install test compare compare-photo benchmark

install: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install --quiet $(TORCH_PAIR)
	$(PY) -m pip install --quiet -e '.[test,imagenet]'
	touch $(STAMP)

test: $(STAMP)
	$(PY) -m pytest

# The whole study: data, the three methods on both splits, evaluation, reports/$(PROFILE)/report.md.
compare: $(STAMP)
	$(NOGANCOLOR) data prepare $(DATA_SOURCE) --out data/cifar10
	$(NOGANCOLOR) compare --profile $(PROFILE) --seeds $(SEEDS)

# The study on real photos: Imagenette (downloaded, or the archive NOGANCOLOR_PHOTOS names) at 64 px,
# the photo profile -> reports/photo/report.md (PHOTO_PROFILE=photo-full: 128 px, for a GPU).
PHOTO_PROFILE ?= photo
PHOTO_SIZE := $(if $(filter photo-full,$(PHOTO_PROFILE)),128,64)
compare-photo: $(STAMP)
	$(NOGANCOLOR) data prepare $(if $(NOGANCOLOR_PHOTOS),--path $(NOGANCOLOR_PHOTOS),--dataset imagenette) \
		--size $(PHOTO_SIZE) --out data/photos-$(PHOTO_SIZE)
	$(NOGANCOLOR) compare --data data/photos-$(PHOTO_SIZE) --profile $(PHOTO_PROFILE) --seeds $(SEEDS)

benchmark: $(STAMP)
	$(PY) benchmarks/train_speed.py
	$(PY) benchmarks/predict_speed.py
