"""The error a refused job action raises."""


class JobError(RuntimeError):
    """A job action that cannot be done now (e.g. deleting a running run); the message says what to do."""
