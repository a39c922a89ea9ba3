"""Warnings worth reading: the package's own once per estimator and cause, dependencies' noise filtered.

Two mechanisms, both local (no global filter is installed):

* :func:`warn` issues one of the package's own warnings (``ChannelWarning``,
  ``UnitsWarning``...). Inside :func:`issued_by` ``(estimator)`` -- which
  the estimators enter around their input checks and adapter fitting -- a
  warning whose category and text the estimator has already issued is not
  issued again: refitting, or fitting the clones of a cross-validation,
  says each thing once. The text names the cause (the channels left out,
  the amplitude seen), so a new cause is always reported. The record lives
  in the estimator's ``__dict__`` (``_issued_warnings``): it survives refits
  and pickling, and ``sklearn.base.clone`` shares it with the clone (see
  ``FoundationEstimatorBase.__sklearn_clone__``), so the folds of a
  cross-validation in this process report a cause once. Fresh estimators
  built from scratch start with an empty record.
* :func:`dependency_notices_filtered` silences, around the calls that
  trigger them, notices of the libraries underneath that the user cannot
  act on: braindecode's import-time notices (:data:`IMPORT_NOTICES`) and
  those each card names (``ModelCard.quiet_warnings``, e.g. torch's STFT
  window default in BIOT). Anything else passes through.

``warnings.catch_warnings`` changes process-wide state; entered from several
threads at once it may leave one of these filters in place a little longer
than the call. Only those listed notices are affected.
"""

from __future__ import annotations

import os
import sys
import warnings
from contextlib import contextmanager
from contextvars import ContextVar

ISSUED_ATTR = "_issued_warnings"

# (category, start of the message): notices of braindecode's own import, which no model causes.
# A model's notices (BIOT's STFT window, ...) are in its card: ``ModelCard.quiet_warnings``.
IMPORT_NOTICES = (
    # braindecode's EEGPT module builds mne's "standard_1020" montage at import; mne renamed it.
    (FutureWarning, r"Montage name 'standard_1020' is deprecated"),
    # wfdb (imported by braindecode.datasets) uses a pandas keyword pandas deprecates.
    (DeprecationWarning, r"The inplace keyword in DataFrame.set_index is deprecated"),
)

_OWNER: ContextVar = ContextVar("eegfm_warning_owner", default=None)


@contextmanager
def issued_by(estimator):
    """Within this block, :func:`warn` reports each cause once per ``estimator``."""
    token = _OWNER.set(estimator)
    try:
        yield
    finally:
        _OWNER.reset(token)


def _internal_prefixes():
    """Folders whose frames are not the user's line: this package and the wrappers that call into it."""
    import sklearn

    folders = [os.path.dirname(os.path.dirname(os.path.abspath(__file__))), os.path.dirname(sklearn.__file__)]
    for name in ("joblib", "skorch"):
        module = sys.modules.get(name)
        if module is not None and getattr(module, "__file__", None):
            folders.append(os.path.dirname(module.__file__))
    return tuple(os.path.join(f, "") for f in folders)


def user_stacklevel(default=2):
    """``stacklevel`` for a ``warnings.warn`` call made by the caller: the first frame outside the package.

    ``warnings.warn`` has ``skip_file_prefixes`` only from Python 3.12; this walks the frames instead.
    ``default`` is used when every frame is internal (the command line's own code).
    """
    prefixes = _internal_prefixes()
    frame, level = sys._getframe(2), 2  # stacklevel 2: the caller of the function calling warnings.warn
    while frame is not None and frame.f_code.co_filename.startswith(prefixes):
        frame, level = frame.f_back, level + 1
    return default if frame is None else level


def warn(message, category, stacklevel=1, cause=None):
    """``warnings.warn``, reported at the user's line, skipped when the current estimator already issued it.

    Parameters
    ----------
    message : str
    category : type of Warning
    stacklevel : int, default=1
        As for ``warnings.warn``, counted from the caller of this function; used only when no frame
        outside this package (and the scikit-learn, joblib and skorch wrappers calling into it) is
        on the stack. Otherwise the warning points at the first frame outside them: the user's line.
    cause : hashable or None
        What the warning is about; None: its text. Give it when the text
        holds measurements that vary from call to call for the same cause.
    """
    owner = _OWNER.get()
    key = (category.__module__, category.__qualname__, str(message) if cause is None else cause)
    issued = None if owner is None else owner.__dict__.setdefault(ISSUED_ATTR, set())
    if issued is not None and key in issued:
        return
    warnings.warn(message, category, stacklevel=user_stacklevel(stacklevel + 1))
    if issued is not None:  # after the call: a warning turned into an error is raised again next time
        issued.add(key)


@contextmanager
def dependency_notices_filtered(notices=()):
    """Silence dependencies' notices for the calls inside the block.

    Parameters
    ----------
    notices : tuple of (type of Warning, str), default=()
        ``(category, message regex)`` pairs silenced besides
        :data:`IMPORT_NOTICES`: the caller's card's ``quiet_warnings``.
    """
    with warnings.catch_warnings():
        for category, message in IMPORT_NOTICES + tuple(notices):
            warnings.filterwarnings("ignore", message=message, category=category)
        yield


def import_braindecode():
    """Import braindecode (and its models) without its import-time notices.

    Called when a card first needs its braindecode class (not at this
    package's import, which stays light: braindecode imports skorch, moabb...).
    """
    import sys

    if "braindecode.models" in sys.modules:
        return
    with dependency_notices_filtered():
        import braindecode  # noqa: F401
        import braindecode.models  # noqa: F401
