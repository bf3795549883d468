"""Training machinery every method shares: the Learner and its device setup, callbacks, on-device
bookkeeping, several processes, the conditional GANLearner, and one resumable run (`run.py`)."""
