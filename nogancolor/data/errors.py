"""The one error type for data problems a user can fix; the CLI prints its message as one line."""


class DatasetError(RuntimeError):
    """Missing, corrupt or unprepared data, with a message that says what to do."""
