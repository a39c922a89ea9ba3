"""CPU throughput of ``FoundationTransformer.transform`` next to the raw backbone.

For each model, at full size (the card's default architecture, random
weights), the benchmark times, side by side and interleaved within each
repeat:

* ``transform``: ``FoundationTransformer.transform(X)`` on windows of real
  EEG (EEGMAT: 19 channels, 500 Hz, µV): input checks, the adapter
  (channel map, resampling, crop, the card's scaling) and the forward pass,
  batch by batch;
* ``forward``: the braindecode module alone (``est.backbone_``) on the very
  same adapted windows (``est.adapter_.transform(X)``, computed beforehand),
  under ``torch.inference_mode``, with the same batch size and threads. It
  runs the computation ``transform`` runs: ``card.extract_features`` (i.e.
  ``backbone(x, return_features=True)`` plus the card's pooling, or the
  card's ``features_of`` hook for backbones without ``return_features``);
* ``adapter``: ``est.adapter_.transform`` alone (channel map + resample +
  crop + scaling), batch by batch as ``transform`` calls it;
* ``policy`` (with ``--window-policy pad`` or ``split``): the window
  policy's own work alone: padding the adapted windows up to the model's
  length (pad), or cutting trials into sub-windows and pooling the
  sub-windows' embeddings back to one row per trial (split).

``--input-sfreq`` reads the EEGMAT samples as if recorded at another rate
(e.g. 173.61 or 600.614990234375 Hz), to time the resampling for ratios
such as 1205/1046 or 325/976.

It reports, after one warm-up, the median of ``--repeats`` runs (their order
alternating) as throughput in windows/s, and the median over repeats of
``transform`` time over the adjacent ``forward`` time (with its interquartile
range) and of the adapter's time as a fraction of the forward's.

Run from the project root (the data folder is found as in the package, or
give --data-dir):

    python benchmarks/bench_transform.py --models bendr biot labram \\
        --n-windows 64 --batch-size 16 --repeats 15 --threads 2 [--device cuda --precision bf16]
    python benchmarks/bench_transform.py --window-seconds 0.5 --window-policy pad ...
    python benchmarks/bench_transform.py --window-seconds 60 --window-policy split --max-window-seconds 15 ...

``--smoke`` is the smallest setting (tiny architectures, 4 windows, 1 repeat),
run by the test suite; its numbers mean nothing.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import time
import warnings

import numpy as np
import torch

from eegfm_sklearn import FoundationTransformer, get_model_card, list_models
from eegfm_sklearn.datasets import load_eegmat
from eegfm_sklearn.preprocessing.windowing import pad_end
from eegfm_sklearn.utils.threads import limited_threads


def load_windows(n_windows, window_seconds, data_dir):
    """``n_windows`` windows of EEGMAT (µV), from as few subjects as needed."""
    per_subject = 2 * int(60 // window_seconds)  # 2 files x their last 60 s
    n_subjects = min(10, -(-n_windows // per_subject))
    data = load_eegmat(subjects=range(n_subjects), window_seconds=window_seconds,
                       data_dir=data_dir, download=False)
    if len(data.X) < n_windows:
        raise SystemExit(f"only {len(data.X)} windows available; ask for fewer.")
    return data.X[:n_windows], data.sfreq, data.ch_names


def _timed(fn):
    """(wall seconds, CPU seconds of this thread) of ``fn()``.

    With one thread (``--threads 1``) torch and the BLAS run on the calling
    thread, so its CPU time is the work done, whatever else the machine runs.
    """
    start, cpu = time.perf_counter(), time.thread_time()
    fn()
    return time.perf_counter() - start, time.thread_time() - cpu


def _busy(stop):
    """Keep one core busy (another process's work) until ``stop`` is set."""
    x = 0
    while not stop.is_set():
        for _ in range(10_000):
            x += 1


def bench_model(model, X, sfreq, ch_names, batch_size, repeats, device="cpu", precision=None, tiny=False,
                n_threads=None, **policy):
    """Median seconds of transform, raw forward, adapter (and window policy) for one model."""
    model_kwargs = dict(get_model_card(model).tiny_kwargs) if tiny else None
    est = FoundationTransformer(model, weights=None, sfreq=sfreq, ch_names=ch_names, batch_size=batch_size,
                                device=device, precision=precision, random_state=0, model_kwargs=model_kwargs,
                                n_threads=n_threads, **policy).fit(X)
    backbone = est.backbone_.eval()
    card = est.card_
    extra = card.forward_kwargs_for(est.channel_report_.slots, est.adapter_.slot_positions_)
    ad = est.adapter_
    k = ad.n_sub_  # backbone windows per trial (split)
    Xt = ad.transform(X)  # the adapted windows, computed once
    dtype = {None: None, "bf16": torch.bfloat16, "fp16": torch.float16}[precision]

    @torch.inference_mode()
    def raw_forward(Xt=Xt):
        with torch.autocast(torch.device(device).type, dtype=dtype, enabled=dtype is not None):
            return [card.extract_features(backbone, torch.from_numpy(Xt[i:i + batch_size]).to(device),
                                          **extra).float().cpu()  # .cpu() waits for the GPU
                    for i in range(0, len(Xt), batch_size)]

    # Same numbers either way (the raw path is what transform runs).
    ref = est._pool(raw_forward(Xt[: 2 * k])[0].numpy())
    tol = 1e-4 if precision is None else 5e-2
    np.testing.assert_allclose(est.transform(X[:2]), ref, rtol=tol, atol=tol)

    trials = max(1, batch_size // k)  # as transform batches split trials
    def adapter():
        with limited_threads(n_threads):  # as transform runs it
            return [ad.transform(X[i:i + trials]) for i in range(0, len(X), trials)]

    runs = {"transform": lambda: est.transform(X), "forward": raw_forward, "adapter": adapter}
    real = np.ascontiguousarray(Xt[..., : ad.n_real_samples_])  # adapted windows before padding
    rows = np.concatenate([r.numpy() for r in raw_forward()])  # backbone outputs, one per sub-window

    def policy():
        for i in range(0, len(X), trials):
            if ad.split_ is not None:
                ad.split_.cut(X[i:i + trials])
            if ad.n_real_samples_ < ad.n_times_out_:
                pad_end(real[i * k:(i + trials) * k], ad.n_times_out_, ad.pad_mode)
        est._pool(rows)

    if ad.split_ is not None or ad.n_real_samples_ < ad.n_times_out_:
        runs["policy"] = policy
    for fn in runs.values():  # warm-up
        fn()
    times = {name: [] for name in runs}
    cpu = {name: [] for name in runs}
    order = list(runs)
    for _ in range(repeats):  # interleaved, order alternating, so load changes hit all alike
        for name in order:
            wall, used = _timed(runs[name])
            times[name].append(wall)
            cpu[name].append(used)
        order.reverse()
    med = {name: statistics.median(ts) for name, ts in times.items()}
    # Ratios of runs adjacent in time, then their median: robust to load drifting over the run.
    ratios = sorted(t / f for t, f in zip(times["transform"], times["forward"]))
    shares = sorted(a / f for a, f in zip(times["adapter"], times["forward"]))
    policy_shares = sorted(a / f for a, f in zip(times.get("policy", []), times["forward"]))
    cpu_ratios = sorted(t / max(f, 1e-9) for t, f in zip(cpu["transform"], cpu["forward"]))
    cpu_shares = sorted(a / max(f, 1e-9) for a, f in zip(cpu["adapter"], cpu["forward"]))
    return {
        "model": model,
        "params_M": sum(p.numel() for p in backbone.parameters()) / 1e6,
        "adapted": "x".join(str(s) for s in Xt.shape[1:]) + (f" (x{k} per trial)" if k > 1 else ""),
        "ratio_used": f"{ad.up_}/{ad.down_}, {abs(ad.ratio_.rate_error) * 1e6:.2g} ppm",
        "real": f"{ad.n_real_samples_}/{ad.n_times_out_}",
        "policy_frac": statistics.median(policy_shares) if policy_shares else None,
        "transform_wps": len(X) / med["transform"],
        "forward_wps": len(X) / med["forward"],
        "ratio": statistics.median(ratios),
        "ratio_iqr": (ratios[len(ratios) // 4], ratios[(3 * len(ratios)) // 4]),
        "adapter_ms": 1e3 * med["adapter"],
        "adapter_frac": statistics.median(shares),
        "cpu_ratio": statistics.median(cpu_ratios),
        "cpu_adapter_frac": statistics.median(cpu_shares),
        "spread": {name: (min(ts), max(ts)) for name, ts in times.items()},
    }


def machine_description(threads):
    cpu = platform.processor() or "unknown CPU"
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next(line.split(":", 1)[1].strip() for line in f if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg()) if hasattr(os, "getloadavg") else "n/a"
    return (f"{cpu}, {os.cpu_count()} logical CPUs; {platform.system()} {platform.release()}; "
            f"Python {platform.python_version()}, torch {torch.__version__} "
            f"({torch.get_num_threads()} intra-op threads, requested {threads}); load average {load}")


def format_table(rows, n_windows, batch_size, window_seconds=4.0, sfreq=500.0):
    header = ("| model | params (M) | backbone input (ch x samples) | resampling | real samples "
              "| transform (trials/s) | raw forward (trials/s) | transform / forward time (IQR) "
              "| throughput vs forward | adapter (ms) | adapter / forward | pad or split / forward "
              "| throughput vs forward, CPU time | adapter / forward, CPU time |")
    lines = [header, "|" + "---|" * 14]
    for r in rows:
        lo, hi = r["ratio_iqr"]
        policy = "-" if r["policy_frac"] is None else f"{100 * r['policy_frac']:.2f} %"
        lines.append(
            f"| {r['model']} | {r['params_M']:.1f} | {r['adapted']} | {r['ratio_used']} | {r['real']} "
            f"| {r['transform_wps']:.1f} | {r['forward_wps']:.1f} | {r['ratio']:.3f} ({lo:.3f}-{hi:.3f}) "
            f"| {1 / r['ratio']:.3f}x | {r['adapter_ms']:.1f} | {100 * r['adapter_frac']:.1f} % "
            f"| {policy} | {1 / r['cpu_ratio']:.3f}x | {100 * r['cpu_adapter_frac']:.1f} % |"
        )
    lines.append("")
    lines.append(f"{n_windows} trials of 19 ch x {window_seconds:g} s read as {sfreq:g} Hz (EEGMAT, µV), "
                 f"batch size {batch_size}; "
                 "win/s and adapter ms: medians of the repeats; ratios: medians of per-repeat ratios "
                 "(runs adjacent in time); adapter = the card's filters + channel map + resample + crop + scaling "
                 f"on all {n_windows} windows. CPU time: of the main thread (torch and BLAS run there with "
                 "--threads 1; with more threads it misses their workers' share and means little).")
    return "\n".join(lines)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="+", default=list_models(), choices=list_models())
    parser.add_argument("--n-windows", type=int, default=32)
    parser.add_argument("--batch-size", type=int, default=None,
                        help="windows per forward (default: all windows in one batch)")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--threads", type=int, default=torch.get_num_threads(),
                        help="torch's threads, also the estimator's n_threads (BLAS/OpenMP of the adapter)")
    parser.add_argument("--busy-core", action="store_true",
                        help="keep one core busy in another process while measuring (a shared machine)")
    parser.add_argument("--device", default="cpu", help='e.g. "cuda" (the adapter stays on the CPU)')
    parser.add_argument("--precision", default=None, choices=["bf16", "fp16"], help="autocast, both sides")
    parser.add_argument("--window-seconds", type=float, default=4.0)
    parser.add_argument("--data-dir", default=None, help="folder holding eegmat/ (default: the package's)")
    parser.add_argument("--input-sfreq", type=float, default=None,
                        help="read the 500 Hz samples as if recorded at this rate (odd resampling ratios)")
    parser.add_argument("--window-policy", default="crop", choices=["crop", "pad", "split"])
    parser.add_argument("--pad-mode", default="constant", choices=["constant", "edge", "reflect"])
    parser.add_argument("--max-window-seconds", type=float, default=None)
    parser.add_argument("--json", default=None,
                        help="also write {model: {ours_per_s, forward_per_s, ratio}} here (docs/throughput.json "
                             "feeds the table of docs/models.md)")
    parser.add_argument("--tiny", action="store_true", help="each card's tiny architecture instead of full size")
    parser.add_argument("--synthetic", action="store_true",
                        help="white-noise windows (19 EEGMAT channels, 500 Hz, 20 µV) instead of EEGMAT recordings")
    parser.add_argument("--smoke", action="store_true",
                        help="smallest setting, runs in seconds: --tiny, 4 windows, 1 repeat")
    args = parser.parse_args(argv)
    if args.smoke:
        args.tiny, args.n_windows, args.repeats = True, 4, 1
    policy = {"window_policy": args.window_policy, "pad_mode": args.pad_mode,
              "max_window_seconds": args.max_window_seconds}

    torch.set_num_threads(args.threads)
    batch_size = args.batch_size or args.n_windows
    if args.synthetic:  # machines without the recordings (a lent GPU): same shape, same montage
        ch_names = ["Fp1", "Fp2", "F3", "F4", "F7", "F8", "T3", "T4", "C3", "C4", "T5", "T6", "P3", "P4",
                    "O1", "O2", "Fz", "Cz", "Pz"]
        sfreq = 500.0
        n = round(args.window_seconds * sfreq)
        X = 20 * np.random.default_rng(0).standard_normal((args.n_windows, len(ch_names), n))
    else:
        X, sfreq, ch_names = load_windows(args.n_windows, args.window_seconds, args.data_dir)
    sfreq = args.input_sfreq or sfreq
    print(machine_description(args.threads))
    print(f"data: {X.shape[0]} windows x {X.shape[1]} ch x {X.shape[2]} samples at {sfreq:g} Hz")
    rows = []
    stop = busy = None
    if args.busy_core:
        import multiprocessing

        stop = multiprocessing.Event()
        busy = multiprocessing.Process(target=_busy, args=(stop,), daemon=True)
        busy.start()
        print("another process keeps one core busy")
    for model in args.models:
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message="A window was not provided")  # torch.stft in BIOT
            warnings.filterwarnings("ignore", message=".*does not use input channel")
            row = bench_model(model, X, sfreq, ch_names, batch_size, args.repeats, args.device, args.precision,
                              args.tiny, n_threads=args.threads, **policy)
        rows.append(row)
        spread = ", ".join(f"{k} {lo * 1e3:.0f}-{hi * 1e3:.0f} ms" for k, (lo, hi) in row["spread"].items())
        print(f"{model}: done ({get_model_card(model).module_path}; range over repeats: {spread})", flush=True)
    if busy is not None:
        stop.set()
        busy.join()
    print()
    print(format_table(rows, args.n_windows, batch_size, X.shape[-1] / sfreq, sfreq))
    print(f"load average after: {', '.join(f'{x:.1f}' for x in os.getloadavg())}")
    if args.json:
        import json

        table = {r["model"]: {"ours_per_s": r["transform_wps"], "forward_per_s": r["forward_wps"],
                              "ratio": 1 / r["ratio"], "adapter_share": r["adapter_frac"], "params_M": r["params_M"],
                              "cpu_ratio": 1 / r["cpu_ratio"]} for r in rows}
        with open(args.json, "w") as f:
            json.dump(table, f, indent=1, sort_keys=True)
    return rows


if __name__ == "__main__":
    main()
