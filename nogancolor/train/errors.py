"""What a run can refuse or stop with, importable without torch (the command line turns each into
one line)."""


class RunError(RuntimeError):
    """A run directory in a state the requested action cannot use; the message says what to do."""


class OutOfTime(RunError):
    """The time budget ran out: every finished epoch is checkpointed and the same call continues."""
