"""Start-up: importing the package and the command line's quick answers, next to ``import torch``.

Each case runs in a fresh interpreter (``python -c ...``), the cases
interleaved and their order alternating over ``--repeats`` rounds, so that
load on a shared machine hits all alike. Printed: the median wall time of
each case, its CPU time (user + system of the child, less sensitive to other
processes), and both as ratios to ``import torch`` measured in the same
rounds. The machine's load average is printed before and after.

    python benchmarks/bench_startup.py --repeats 7

Cases: ``import torch``; ``import eegfm_sklearn``; ``from eegfm_sklearn
import FoundationTransformer`` (scikit-learn and torch come with it);
``eegfm --help``; ``eegfm models``; ``eegfm embed`` on a missing file;
``eegfm embed`` to a wrong suffix (argparse, exit 2); the quickstart example
on a machine without the recordings (it must fail, saying so, within 2 s).
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CLI = "from eegfm_sklearn.cli import main; import sys; sys.exit(main({argv!r}))"
CASES = {
    "import torch": "import torch",
    "import eegfm_sklearn": "import eegfm_sklearn",
    "from eegfm_sklearn import FoundationTransformer": "from eegfm_sklearn import FoundationTransformer",
    "eegfm --help": CLI.format(argv=["--help"]),
    "eegfm models": CLI.format(argv=["models"]),
    "eegfm embed absent.edf": CLI.format(argv=["embed", "absent.edf", "-o", "out.npy", "--model", "labram"]),
    "eegfm embed -o out.txt": CLI.format(argv=["embed", "absent.edf", "-o", "out.txt", "--model", "labram"]),
    # the README's main job on a machine without the recordings (and no network to fetch them)
    "quickstart, no recordings": (
        "import os, runpy, sys, tempfile; os.environ['EEGFM_DATA_DIR'] = tempfile.mkdtemp(); "
        "os.environ['EEGFM_EEGMAT_URL'] = 'http://127.0.0.1:9/'; sys.argv = ['quickstart_eegmat.py']; "
        "runpy.run_path('examples/quickstart_eegmat.py', run_name='__main__')"),
}


def run_once(code, env):
    """(wall seconds, child CPU seconds) of ``python -c code``."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    subprocess.run([sys.executable, "-c", code], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                   check=False, cwd=ROOT)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args(argv)
    env = {**os.environ, "PYTHONPATH": ROOT + os.pathsep + os.environ.get("PYTHONPATH", "")}
    print(f"load average before: {', '.join(f'{x:.1f}' for x in os.getloadavg())}; {os.cpu_count()} CPUs")
    for code in CASES.values():  # warm the file cache
        run_once(code, env)
    wall = {name: [] for name in CASES}
    cpu = {name: [] for name in CASES}
    order = list(CASES)
    for _ in range(args.repeats):
        for name in order:
            w, c = run_once(CASES[name], env)
            wall[name].append(w)
            cpu[name].append(c)
        order.reverse()
    ref_wall = statistics.median(wall["import torch"])
    ref_cpu = statistics.median(cpu["import torch"])
    print("\n| case | wall (s) | wall / import torch | CPU (s) | CPU / import torch |\n|---|---|---|---|---|")
    for name in CASES:
        w, c = statistics.median(wall[name]), statistics.median(cpu[name])
        print(f"| `{name}` | {w:.2f} | {w / ref_wall:.2f} | {c:.2f} | {c / ref_cpu:.2f} |")
    print(f"\nmedians of {args.repeats} interleaved runs; "
          f"load average after: {', '.join(f'{x:.1f}' for x in os.getloadavg())}")


if __name__ == "__main__":
    main()
