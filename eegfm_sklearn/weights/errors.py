"""The one exception type of the weights subsystem."""


class WeightsError(ValueError):
    """Pretrained weights could not be found, read safely, or matched.

    Subclasses ``ValueError`` so estimators can report it as a bad
    ``weights=`` parameter. Messages say what was wrong and what to do.
    """


class UnsafeCheckpointError(WeightsError):
    """A file would need arbitrary code to unpickle; it was not loaded."""
