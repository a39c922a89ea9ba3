"""Classify each bad-input case: clear (expected class + words), cryptic (other error), silent (nothing)."""
import re, sys, tempfile, warnings, pathlib, collections, traceback
sys.path.insert(0, "tests")
import test_bad_input as t
from conftest import make_synthetic
d = make_synthetic()
counts = collections.Counter(); rows = []
for case in t.CASES:
    tmp = pathlib.Path(tempfile.mkdtemp())
    err = None
    with warnings.catch_warnings(record=True) as rec:
        warnings.simplefilter("always")
        try:
            case.run(d, tmp)
        except BaseException as e:
            err = e
    if case in t.PARAM_CASES:  # fair to the old wording: does the message name the parameter?
        name = case.id.split("-", 1)[1].split("=")[0]
        ok = err is not None and isinstance(err, ValueError) and re.search(rf"\b{name}\b", str(err))
    elif issubclass(case.expect, Warning):
        ok = any(isinstance(w.message, case.expect) and re.search(case.match, str(w.message)) for w in rec)
    else:
        ok = err is not None and isinstance(err, case.expect) and re.search(case.match, str(err))
    outcome = "clear" if ok else ("cryptic" if err is not None else "silent")
    counts[outcome] += 1
    msg = "" if err is None else f"{type(err).__name__}: {str(err)[:150]!r}"
    rows.append(f"{outcome:8s} {case.id:45s} {msg}")
print("\n".join(rows)); print(dict(counts), "total", len(t.CASES))
