"""Classify every row of the bad-input table: clear, cryptic or silent.

``clear``: the expected exception (or warning) with the expected words;
``cryptic``: some other error; ``silent``: nothing raised or warned. For a
parameter row, a ValueError naming the parameter counts as clear whatever
its wording. Run from the repository root: ``python tests/bad_input_census.py``.
"""

from __future__ import annotations

import collections
import pathlib
import re
import sys
import tempfile
import warnings


def outcome(case, data, tmp_path, param_cases):
    err = None
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            case.run(data, tmp_path)
        except Exception as exc:  # noqa: BLE001 - every failure is classified
            err = exc
    if case in param_cases:
        name = case.id.split("-", 1)[1].split("=")[0]
        ok = isinstance(err, ValueError) and re.search(rf"\b{name}\b", str(err))
    elif issubclass(case.expect, Warning):
        ok = any(isinstance(w.message, case.expect) and re.search(case.match, str(w.message)) for w in caught)
    else:
        ok = isinstance(err, case.expect) and re.search(case.match, str(err))
    return ("clear" if ok else "cryptic" if err is not None else "silent"), err


def main():
    here = pathlib.Path(__file__).resolve().parent
    sys.path[:0] = [str(here.parent), str(here)]  # this checkout's package, then the tests'
    import eegfm_sklearn

    print(f"eegfm_sklearn from {pathlib.Path(eegfm_sklearn.__file__).parent}")
    import test_bad_input as table

    from conftest import make_synthetic

    data = make_synthetic()
    counts = collections.Counter()
    for case in table.CASES:
        result, err = outcome(case, data, pathlib.Path(tempfile.mkdtemp()), table.PARAM_CASES)
        counts[result] += 1
        detail = "" if err is None else f"{type(err).__name__}: {str(err).splitlines()[0][:120]}"
        print(f"{result:8s} {case.id:48s} {detail}")
    print(f"{len(table.CASES)} cases: " + ", ".join(f"{k} {counts[k]}" for k in ("clear", "cryptic", "silent")))


if __name__ == "__main__":
    main()
