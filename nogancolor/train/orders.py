"""Callback orders that depend on each other, declared in one place.

fastai runs callbacks by `order` and breaks ties by the order they were added; these callbacks
must run in a fixed sequence whatever list they were added in, so each has an order of its own.
"""

from fastai.callback.progress import ProgressCallback
from fastai.learner import Recorder
from fastai.vision.gan import GANTrainer

DROP_PADDING = -25  # DropPadding: trims a validation batch before any callback reads or changes it
RESUME_EPOCH = -20  # ContinueFromEpoch: before TrainEvalCallback and Recorder read the epoch
CRITIC_BATCH = -10  # RealVsFake: turns the batch into the critic's before anything reads xb/yb
RGB_TARGETS = GANTrainer.order - 1  # RGBTargets: before GANTrainer swaps xb and yb in critic mode
FEED_GRAY = GANTrainer.order + 1  # FeedGray: after that swap, so it finds the gray input
GAN_PART_COLUMNS = Recorder.order + 1  # LogGANParts: loss-part columns after the Recorder's metrics
REALISM_COLUMNS = Recorder.order + 2  # RealismMetrics: its columns after the loss parts
LOSSES_TO_HOST = Recorder.order + 3  # LossesToHost: after the Recorder's own after_fit
HISTORY_CSV = ProgressCallback.order + 1  # HistoryCSVLogger: wraps the logger after any progress bar set it
# (fastai's no_bar() adds a stock bar back at the end of the list; at an equal order it would win)
VAL_GRID = 60  # ValGridCallback
END_OF_EPOCH = 99  # TrainBatchesPerEpoch, StopBeforeDeadline: after every other callback's epoch end
