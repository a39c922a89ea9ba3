"""Start-up: importing the package and the command line's answers load no model library."""

import os
import subprocess
import sys
import textwrap
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
HEAVY = ("braindecode", "braindecode.models", "skorch", "moabb", "matplotlib")


def _loaded_after(code):
    """Heavy modules in ``sys.modules`` after running ``code`` in a fresh interpreter."""
    probe = code + textwrap.dedent(f"""
        import sys
        print("loaded:" + ",".join(m for m in {HEAVY!r} if m in sys.modules))
    """)
    env = {**os.environ, "PYTHONPATH": str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, env=env, cwd=ROOT, check=False,
                          timeout=300)
    assert done.returncode == 0, done.stderr
    line = done.stdout.strip().splitlines()[-1]
    assert line.startswith("loaded:"), done.stdout
    return [m for m in line[len("loaded:"):].split(",") if m]


def test_import_loads_no_model_library():
    assert _loaded_after("import eegfm_sklearn\n") == []


def test_estimators_and_cards_load_braindecode_only_when_a_module_is_built():
    code = textwrap.dedent("""
        from eegfm_sklearn import FoundationClassifier, FoundationTransformer, get_model_card, list_models
        FoundationTransformer("labram", n_threads=1).get_params()
        [get_model_card(m).summary() for m in list_models()]
    """)
    assert _loaded_after(code) == []
    # building a module imports braindecode's models (their import-time notices filtered there)
    assert "braindecode.models" in _loaded_after("from eegfm_sklearn import get_model_card\n"
                                                 "get_model_card('biot').module_class\n")


def test_cli_parsing_and_listing_load_no_model_library():
    code = textwrap.dedent("""
        import contextlib, io
        from eegfm_sklearn.cli import main
        with contextlib.redirect_stdout(io.StringIO()):
            main(["models"])
            assert main(["embed", "absent.edf", "-o", "out.npy", "--model", "labram"]) == 1
    """)
    assert _loaded_after(code) == []
