"""Cost and attenuation of the per-window notch at long windows and high rates.

For each setting (rate, window length), on 19 channels of white noise plus a
line hum, prints: the time of the first call (the basis planned and cached
for that rate and length) and of a second call, the peak memory the call
allocates (``tracemalloc``; the output array, a copy of the input, is part of it
and shown apart), wall and CPU times (CPU: less sensitive to a loaded machine), the path taken
(``exact``: the orthonormal basis at the input rate; ``coarse``: Slepian
sequences on a coarse grid, see ``eegfm_sklearn/preprocessing/notch.py``)
and the share of each test tone left, measured by least squares on the
output (in band: 50.0 and 50.4 Hz; out of band: 51.2 and 45 Hz, which must
stay). ``--compare`` also runs the exact path where it is affordable and
prints the largest difference between the two.

    python benchmarks/bench_notch.py            # 5 kHz x 60 s, 1 kHz x 60 s, 500 Hz x 4 s
    python benchmarks/bench_notch.py --compare  # + both paths on 500 Hz x 20 s
"""

from __future__ import annotations

import argparse
import os
import time
import tracemalloc

import numpy as np

from eegfm_sklearn.preprocessing import notch

TONES = {"50.0 Hz (in band)": 50.0, "50.4 Hz (in band)": 50.4, "51.2 Hz (kept)": 51.2, "45 Hz (kept)": 45.0}


def tone_left(y, x_tone, t, freq):
    """Amplitude of ``freq`` in y over its amplitude in the input tone (least squares)."""
    basis = np.stack([np.cos(2 * np.pi * freq * t), np.sin(2 * np.pi * freq * t)], axis=1)
    fit_in = np.linalg.lstsq(basis, x_tone, rcond=None)[0]
    fit_out = np.linalg.lstsq(basis, y, rcond=None)[0]
    return float(np.linalg.norm(fit_out) / np.linalg.norm(fit_in))


def run(sfreq, seconds, exact=None, n_chans=19, seed=0):
    n = int(round(sfreq * seconds))
    t = np.arange(n) / sfreq
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((1, n_chans, n)).astype(np.float32)
    # one tone per channel group, 20x the noise
    for i, freq in enumerate(TONES.values()):
        x[0, i::len(TONES)] += 20 * np.sin(2 * np.pi * freq * t + i).astype(np.float32)
    path = ("exact" if notch.basis_elements(sfreq, n, True, (50.0,)) <= notch.EXACT_MAX_ELEMENTS else "coarse") \
        if exact is None else ("exact" if exact else "coarse")
    notch.exact_basis.cache_clear()
    notch._coarse_plan.cache_clear()
    tracemalloc.start()
    start, cpu = time.perf_counter(), time.process_time()
    y = notch.project_out(x, sfreq, True, (50.0,), exact=exact)
    first, first_cpu = time.perf_counter() - start, time.process_time() - cpu
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    start, cpu = time.perf_counter(), time.process_time()
    notch.project_out(x, sfreq, True, (50.0,), exact=exact)
    second, second_cpu = time.perf_counter() - start, time.process_time() - cpu
    left = {name: tone_left(y[0, i].astype(np.float64), 20 * np.sin(2 * np.pi * f * t + i), t, f)
            for i, (name, f) in enumerate(TONES.items())}
    return {"path": path, "first_s": first, "second_s": second, "first_cpu": first_cpu, "second_cpu": second_cpu,
            "peak_MB": peak / 2**20, "out_MB": y.nbytes / 2**20, "left": left, "y": y}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--compare", action="store_true", help="both paths on 500 Hz x 20 s")
    args = parser.parse_args(argv)
    print(f"load average: {', '.join(f'{x:.1f}' for x in os.getloadavg())}; {os.cpu_count()} CPUs; "
          "one window of 19 channels, notch 50 Hz + detrend")
    print("\n| rate x window | path | first call: wall / CPU (s) | cached: wall / CPU (s) | peak (MB) "
          "| of which output (MB) | " + " | ".join(TONES) + " |")
    print("|---|---|---|---|---|---|" + "---|" * len(TONES))
    for sfreq, seconds in ((5000.0, 60.0), (1000.0, 60.0), (500.0, 4.0)):
        r = run(sfreq, seconds)
        print(f"| {sfreq:g} Hz x {seconds:g} s | {r['path']} | {r['first_s']:.2f} / {r['first_cpu']:.2f} "
              f"| {r['second_s']:.2f} / {r['second_cpu']:.2f} | {r['peak_MB']:.1f} | {r['out_MB']:.1f} | "
              + " | ".join(f"{100 * v:.2f} %" for v in r["left"].values()) + " |")
    if args.compare:
        ex, co = run(500.0, 20.0, exact=True), run(500.0, 20.0, exact=False)
        print(f"\n500 Hz x 20 s: exact {ex['first_cpu']:.2f} s CPU / {ex['peak_MB']:.0f} MB, coarse "
              f"{co['first_cpu']:.2f} s CPU / {co['peak_MB']:.0f} MB (first calls; CPU ratio "
              f"{ex['first_cpu'] / co['first_cpu']:.1f}x); largest difference "
              f"{np.abs(ex['y'] - co['y']).max():.2g} (input rms ~{np.sqrt(1 + 200):.0f})")
    print(f"\nload average after: {', '.join(f'{x:.1f}' for x in os.getloadavg())}")


if __name__ == "__main__":
    main()
