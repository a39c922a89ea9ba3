"""Progress bars for long work, shown only when someone is watching.

One rule for the whole package (estimators, streaming, the command line):
a bar is drawn when ``verbose`` asks for it *and* the output is a terminal,
so logs of batch jobs and CI runs stay free of carriage-return noise.
``verbose >= 2`` draws it even without a terminal.
"""

from __future__ import annotations

import sys

# verbose at or above this draws bars even when stderr is not a terminal
ALWAYS = 2


def interactive(stream=None) -> bool:
    """Whether ``stream`` (default ``sys.stderr``) is a terminal or a Jupyter output."""
    stream = sys.stderr if stream is None else stream
    if type(stream).__module__.startswith("ipykernel"):  # Jupyter draws tqdm's widget
        return True
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):  # replaced or closed streams
        return False


def show_progress(verbose, stream=None) -> bool:
    """Whether a bar should be drawn for this ``verbose`` level.

    Parameters
    ----------
    verbose : bool or int
        0/False: never. 1/True: when ``stream`` is a terminal. >= 2: always.
    stream : file-like or None
        Where the bar goes (default ``sys.stderr``).

    Returns
    -------
    show : bool
    """
    level = int(verbose or 0)
    return level >= ALWAYS or (level >= 1 and interactive(stream))


def progress(iterable, total=None, verbose=1, desc=None, unit="batch", min_total=2):
    """``iterable``, wrapped in a tqdm bar when :func:`show_progress` says so.

    Parameters
    ----------
    iterable : iterable
    total : int or None
        Number of items, when ``iterable`` has no ``len``.
    verbose : bool or int, default=1
        See :func:`show_progress`.
    desc : str or None
        Label in front of the bar.
    unit : str, default="batch"
    min_total : int, default=2
        No bar for fewer items than this (a bar for one batch is noise).

    Returns
    -------
    iterable
        ``iterable`` itself, or a tqdm object yielding the same items.
    """
    if total is None and hasattr(iterable, "__len__"):
        total = len(iterable)
    if not show_progress(verbose) or (total is not None and total < min_total):
        return iterable
    from tqdm.auto import tqdm

    return tqdm(iterable, total=total, desc=desc, unit=unit, leave=False, file=sys.stderr,
                dynamic_ncols=True)
