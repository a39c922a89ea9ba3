"""The figures of eegfm_sklearn.viz: each returns a Figure whose drawn data are its inputs.

Agg backend (headless). The gallery scripts (examples/plot_*.py) run at the end, as
sphinx-gallery would run them.
"""

from __future__ import annotations

import ast
from pathlib import Path

import matplotlib.pyplot as plt
import mne
import numpy as np
import pandas as pd
import pytest
from matplotlib.colors import to_rgba
from matplotlib.figure import Figure
from scipy.signal import freqz
from sklearn.decomposition import PCA
from sklearn.manifold import TSNE
from threadpoolctl import threadpool_limits

from eegfm_sklearn import ChannelReport, FoundationClassifier, FoundationTransformer, get_model_card
from eegfm_sklearn.preprocessing.adapter import head_positions, plan_channels, standard_montage
from eegfm_sklearn.viz import (
    RESULT_COLUMNS,
    STATUS_COLORS,
    filter_response,
    plot_channel_report,
    plot_embedding_2d,
    plot_filter_response,
    plot_subject_scores,
    plot_training_curves,
)
from eegfm_sklearn.viz.channels import slot_plot_positions

from conftest import tiny

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(autouse=True)
def _agg_and_close_figures():
    plt.switch_backend("Agg")  # headless, whatever the environment says
    yield
    plt.close("all")


def lines_by_label(ax):
    return {line.get_label(): line for line in ax.get_lines()}


# -- training curves ------------------------------------------------------------------
@pytest.fixture(scope="module")
def fitted_classifier(synthetic):
    est = FoundationClassifier(**tiny("biot"), sfreq=synthetic.sfreq, ch_names=synthetic.ch_names, max_epochs=3,
                               early_stopping=True, validation_fraction=0.25, batch_size=8, random_state=0)
    return est.fit(synthetic.X, synthetic.y)


def test_training_curves_draw_the_history(fitted_classifier):
    history = fitted_classifier.history_
    fig = plot_training_curves(fitted_classifier)
    assert isinstance(fig, Figure)
    ax = fig.axes[0]
    lines = lines_by_label(ax)
    np.testing.assert_array_equal(lines["train_loss"].get_xdata(), [1, 2, 3])
    np.testing.assert_allclose(lines["train_loss"].get_ydata(), history[:, "train_loss"])
    np.testing.assert_allclose(lines["valid_loss"].get_ydata(), history[:, "valid_loss"])
    best = int(np.argmin(history[:, "valid_loss"]))
    star = next(line for label, line in lines.items() if label.startswith("lowest valid_loss"))
    assert star.get_xdata()[0] == best + 1 and star.get_ydata()[0] == history[best, "valid_loss"]
    assert len(fig.axes) == 1  # the net records no validation score besides the loss


def test_training_curves_metrics_on_a_second_axis():
    history = [{"epoch": 1, "train_loss": 0.9, "valid_loss": 0.8, "valid_acc": 0.55, "valid_loss_best": True},
               {"epoch": 2, "train_loss": 0.7, "valid_loss": 0.85, "valid_acc": 0.6, "valid_loss_best": False},
               {"epoch": 3, "train_loss": 0.5, "valid_loss": 0.75, "valid_loss_best": True}]
    fig, ax = plt.subplots()
    assert plot_training_curves(history, ax=ax) is fig
    twin = fig.axes[1]
    acc = lines_by_label(twin)["valid_acc"]
    np.testing.assert_array_equal(acc.get_ydata(), [0.55, 0.6, np.nan])  # epoch 3 recorded none
    assert set(lines_by_label(ax)) >= {"train_loss", "valid_loss"}
    assert "valid_loss_best" not in lines_by_label(twin)
    with pytest.raises(ValueError, match=r"No epoch recorded a number for \['valid_f1'\]"):
        plot_training_curves(history, metrics=["valid_f1"])


def test_training_curves_refuse_what_has_no_history(synthetic):
    with pytest.raises(ValueError, match="FoundationTransformer trains nothing"):
        plot_training_curves(FoundationTransformer("labram"))
    with pytest.raises(ValueError, match="history is empty"):
        plot_training_curves([])
    with pytest.raises(TypeError, match="list of one dict per epoch"):
        plot_training_curves("history.json")
    with pytest.raises(ValueError, match="records no loss"):
        plot_training_curves([{"epoch": 1, "dur": 0.1}])


# -- per-subject scores -----------------------------------------------------------------
def results_table():
    """2 models x 2 seeds x 3 held-out subjects; a baseline without strategy."""
    rows = []
    scores = {("labram", "linear"): {0: (0.6, 0.8), 1: (0.5, 0.7), 2: (0.9, 0.9)},
              ("band power + LR", "-"): {0: (0.55, 0.55), 1: (0.65, 0.65), 2: (0.7, 0.7)}}
    for (model, strategy), per_group in scores.items():
        for fold, (group, by_seed) in enumerate(per_group.items()):
            for seed, score in enumerate(by_seed):
                rows.append({"model": model, "strategy": strategy, "seed": seed, "fold": fold,
                             "test_group": group, "n_train": 40, "n_test": 20, "metric": "balanced_accuracy",
                             "score": score, "fit_seconds": 1.0, "score_seconds": 0.1})
    return pd.DataFrame(rows, columns=list(RESULT_COLUMNS))


def test_subject_scores_average_over_seeds():
    fig = plot_subject_scores(results_table(), chance=0.5)
    ax = fig.axes[0]
    lines = lines_by_label(ax)
    np.testing.assert_allclose(lines["labram (linear)"].get_ydata(), [0.7, 0.6, 0.9])
    np.testing.assert_allclose(lines["band power + LR"].get_ydata(), [0.55, 0.65, 0.7])
    np.testing.assert_array_equal(lines["labram (linear)"].get_xdata(), [0, 1, 2])
    assert [t.get_text() for t in ax.get_xticklabels()] == ["0", "1", "2"]
    np.testing.assert_array_equal(lines["chance (0.5)"].get_ydata(), [0.5, 0.5])
    assert ax.get_ylabel().startswith("balanced_accuracy")


@pytest.mark.parametrize("n_groups, name", [(3, "{}"), (10, "subject-{:04d}"), (30, "sub-{:02d}")])
def test_subject_scores_tick_labels_never_overlap(n_groups, name):
    """Ten long group names used to be drawn flat (rotated only past 12 groups), on top of each other."""
    table = results_table()
    table = pd.concat([table.assign(test_group=table["test_group"] + 3 * k) for k in range(-(-n_groups // 3))],
                      ignore_index=True)
    table = table[table["test_group"] < n_groups].assign(test_group=lambda t: [name.format(g) for g in t["test_group"]])
    fig = plot_subject_scores(table)
    ax = fig.axes[0]
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    boxes = [t.get_window_extent(renderer) for t in ax.get_xticklabels()]
    assert len(boxes) == n_groups
    assert not [(a, b) for i, a in enumerate(boxes) for b in boxes[i + 1:] if a.overlaps(b)]
    rotated = ax.get_xticklabels()[0].get_rotation() != 0
    assert rotated == (n_groups == 10)  # names that fit (short ones; the figure widens with the groups) stay flat


def test_subject_scores_pick_one_metric():
    table = results_table()
    other = table.assign(metric="roc_auc", score=table["score"] / 2)
    both = pd.concat([table, other], ignore_index=True)
    with pytest.raises(ValueError, match=r"several metrics \['balanced_accuracy', 'roc_auc'\]"):
        plot_subject_scores(both)
    ax = plot_subject_scores(both, metric="roc_auc").axes[0]
    np.testing.assert_allclose(lines_by_label(ax)["labram (linear)"].get_ydata(), [0.35, 0.3, 0.45])
    with pytest.raises(ValueError, match="metric='f1' is not in results"):
        plot_subject_scores(both, metric="f1")


def test_subject_scores_check_the_table():
    table = results_table()
    with pytest.raises(ValueError, match=r"lacks the column\(s\) \['test_group', 'fit_seconds'\]"):
        plot_subject_scores(table.drop(columns=["test_group", "fit_seconds"]))
    with pytest.raises(TypeError, match="pandas DataFrame"):
        plot_subject_scores(table.to_dict("records"))
    with pytest.raises(ValueError, match="no rows"):
        plot_subject_scores(table.iloc[:0])
    bad = table.astype({"score": object})
    bad.loc[3, "score"] = "n/a"
    with pytest.raises(ValueError, match="not numbers"):
        plot_subject_scores(bad)


# -- embeddings -------------------------------------------------------------------------
@pytest.fixture
def embeddings(rng):
    labels = np.repeat(["rest", "arithmetic"], 15)
    X = rng.normal(size=(30, 8)) + (labels == "rest")[:, None] * 3.0
    return X, labels


def test_embedding_pca_scatter_is_the_projection(embeddings):
    X, labels = embeddings
    fig = plot_embedding_2d(X, labels)
    expected = PCA(n_components=2, random_state=0).fit_transform(X)
    collections = fig.axes[0].collections
    assert [c.get_label() for c in collections] == ["arithmetic", "rest"]  # sorted labels
    for coll in collections:
        np.testing.assert_allclose(coll.get_offsets(), expected[labels == coll.get_label()])
    assert fig.axes[0].get_xlabel().startswith("PC 1 (")


def test_embedding_tsne_scatter_is_the_projection(embeddings):
    X, labels = embeddings
    fig = plot_embedding_2d(X, labels, method="tsne", perplexity=5)
    with threadpool_limits(1, user_api="openmp"):  # as plot_embedding_2d runs it for few points
        expected = TSNE(n_components=2, perplexity=5, init="pca", random_state=0).fit_transform(X)
    for coll in fig.axes[0].collections:
        np.testing.assert_allclose(coll.get_offsets(), expected[labels == coll.get_label()], rtol=1e-5)


def test_embedding_bad_inputs(embeddings):
    X, labels = embeddings
    with pytest.raises(ValueError, match=r"must be 2-D \(n_samples, n_features\)"):
        plot_embedding_2d(X[:, :, None], labels)
    with pytest.raises(ValueError, match="one entry per embedding row"):
        plot_embedding_2d(X, labels[:-1])
    with pytest.raises(ValueError, match="NaN or infinite"):
        plot_embedding_2d(np.where(X > 2, np.nan, X), labels)
    with pytest.raises(ValueError, match="method='umap'"):
        plot_embedding_2d(X, labels, method="umap")
    with pytest.raises(ValueError, match=r"perplexity=40 must be in \(0, n_samples=30\)"):
        plot_embedding_2d(X, labels, method="tsne", perplexity=40)


# -- channel report ---------------------------------------------------------------------
def scatter_of(fig):
    return next(c for c in fig.axes[0].collections if len(c.get_offsets()))


def assert_colours_match(fig, statuses):
    colours = scatter_of(fig).get_facecolors()
    assert len(colours) == len(statuses)
    for colour, status in zip(colours, statuses):
        np.testing.assert_allclose(colour, to_rgba(STATUS_COLORS[status]))


def test_channel_report_of_a_fitted_estimator(synthetic):
    keep = [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11]  # no parietal or occipital channel
    est = FoundationTransformer(**tiny("bendr"), sfreq=synthetic.sfreq,
                                ch_names=[synthetic.ch_names[i] for i in keep], random_state=0)
    est.fit(synthetic.X[:4, keep])
    report = est.channel_report_
    assert {"matched", "interpolated"} == set(report.status)
    fig = plot_channel_report(est)
    assert isinstance(fig, Figure)
    assert_colours_match(fig, report.status)
    assert len(scatter_of(fig).get_offsets()) == len(report.slots)
    legend = [t.get_text() for t in fig.axes[0].get_legend().get_texts()]
    assert legend == [f"matched ({report.count('matched')})", f"interpolated ({report.count('interpolated')})"]


def test_channel_report_bipolar_slots_sit_between_their_electrodes():
    names = ["Fp1", "Fp2", "F7", "F3", "F4", "F8", "T7", "C3", "C4", "T8", "P7", "P3", "P4", "P8", "O1"]
    report = plan_channels(get_model_card("biot").channels, names).report
    assert set(report.status) == {"derived", "interpolated"}  # O2 is missing
    template = head_positions(standard_montage())
    xyz = slot_plot_positions(report, get_model_card("biot").channels)
    k = report.slots.index("FP1-F7")
    np.testing.assert_allclose(xyz[k], (template["FP1"] + template["F7"]) / 2)
    fig = plot_channel_report(report, card="biot")
    assert_colours_match(fig, report.status)
    # without the card, "A-B" names are read as pairs: the same positions
    np.testing.assert_allclose(slot_plot_positions(report), xyz)


def _label_boxes(fig, slots):
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    texts = [t for t in fig.axes[0].texts if t.get_text() in slots]
    assert sorted(t.get_text() for t in texts) == sorted(slots)  # every slot named, once
    return [t.get_window_extent(renderer) for t in texts]


@pytest.mark.parametrize("model, names", [
    ("biot", ["Fp1", "Fp2", "F7", "F3", "F4", "F8", "T7", "C3", "C4", "T8", "P7", "P3", "P4", "P8", "O1", "O2"]),
    ("bendr", ["Fp1", "Fp2", "F7", "F3", "Fz", "F4", "F8", "T3", "C3", "Cz", "C4", "T4", "T5", "P3", "Pz", "P4",
               "T6", "O1", "O2"]),
    ("labram", list(get_model_card("labram").channels.names[:62])),  # a dense cap: 62 names
])
def test_channel_report_labels_overlap_neither_each_other_nor_the_points(model, names):
    """BIOT's bipolar labels sit at the midpoints of neighbouring electrodes: they used to overlap."""
    report = plan_channels(get_model_card(model).channels, names).report
    fig = plot_channel_report(report, card=model)
    boxes = _label_boxes(fig, [report.slots[k] for k in range(len(report.slots))])
    overlapping = [(a, b) for i, a in enumerate(boxes) for b in boxes[i + 1:] if a.overlaps(b)]
    assert not overlapping, f"{len(overlapping)} pairs of labels overlap"
    points = fig.axes[0].transData.transform(scatter_of(fig).get_offsets())
    covered = [p for p in points for b in boxes if b.contains(*p)]
    assert not covered, f"{len(covered)} points under a label"
    inside = fig.bbox
    assert all(inside.x0 <= b.x0 and b.x1 <= inside.x1 and inside.y0 <= b.y0 and b.y1 <= inside.y1 for b in boxes)


def test_channel_report_zero_slots_and_recording_positions():
    names = ["Fp1", "Fp2", "Cz", "O1"]
    report = plan_channels(get_model_card("bendr").channels, names, missing="zero").report
    fig = plot_channel_report(report)
    assert_colours_match(fig, report.status)
    assert report.count("zero") == len(report.slots) - 4
    moved = {"Cz": np.array([0.0, 0.01, 0.09])}  # a recording position wins over the template
    xyz = slot_plot_positions(report, positions=moved)
    np.testing.assert_allclose(xyz[report.slots.index("CZ")], moved["Cz"])
    # the same positions given through a recording's info draw the same map
    given = {n: np.array([0.05 * np.cos(i), 0.05 * np.sin(i), 0.06]) for i, n in enumerate(names)}
    info = mne.create_info(names, 250.0, "eeg")
    info.set_montage(mne.channels.make_dig_montage(given, coord_frame="head"))
    from_info = scatter_of(plot_channel_report(report, positions=info)).get_offsets()
    from_dict = scatter_of(plot_channel_report(report, positions=given)).get_offsets()
    template = scatter_of(plot_channel_report(report)).get_offsets()
    np.testing.assert_allclose(from_info, from_dict)
    assert not np.allclose(from_dict, template)
    with pytest.raises(TypeError, match="positions must be None, a dict"):
        plot_channel_report(report, positions=[0.0, 0.0, 0.1])


def test_channel_report_names_slots_it_cannot_place():
    report = ChannelReport(("Cz", "XYZ9"), ("matched", "matched"), ("Cz", "XYZ9"), unused=("ECG",))
    fig = plot_channel_report(report)
    assert len(scatter_of(fig).get_offsets()) == 1
    notes = " ".join(t.get_text() for t in fig.axes[0].texts)
    assert "not drawn (no known position): XYZ9" in notes and "unused inputs: ECG" in notes
    with pytest.raises(ValueError, match="No slot of the report has a known position"):
        plot_channel_report(ChannelReport(("XYZ9",), ("matched",), ("XYZ9",)))
    with pytest.raises(TypeError, match="fitted foundation estimator or a ChannelReport"):
        plot_channel_report({"Cz": "matched"})
    with pytest.raises(ValueError, match="Unknown slot status"):
        plot_channel_report(ChannelReport(("Cz",), ("guessed",), ("Cz",)))


# -- filter response --------------------------------------------------------------------
def test_continuous_response_is_mnes_fir():
    """PBT's 8-45 Hz band at 250 Hz: the impulse response's spectrum is that of mne's own taps."""
    freqs, gain = filter_response("pbt", sfreq=250.0)
    taps = mne.filter.create_filter(None, 250.0, 8.0, 45.0, verbose=False)
    pick = np.searchsorted(freqs, [1.0, 4.0, 8.0, 20.0, 45.0, 60.0, 100.0])
    _, h = freqz(taps, worN=freqs[pick], fs=250.0)
    np.testing.assert_allclose(gain[pick], np.abs(h), atol=1e-9)


def test_filter_response_plots_both_forms():
    fig = plot_filter_response("labram", sfreq=500.0, window_seconds=4.0)
    lines = [line for line in fig.axes[0].get_lines() if line.get_label().startswith(("continuous", "per"))]
    assert [line.get_label().split()[0] for line in lines] == ["continuous", "per"]
    for line, form in zip(lines, ("continuous", "windows")):
        freqs, gain = filter_response("labram", sfreq=500.0, window_seconds=4.0, form=form)
        x = line.get_xdata()
        expected = np.maximum(20 * np.log10(gain[np.isin(freqs, x)]), -120.0)  # the documented floor
        np.testing.assert_allclose(line.get_ydata(), expected, atol=1e-9)
    # the per-window filters pass 10 Hz and remove the 50 Hz line
    for form in ("continuous", "windows"):
        _, gain = filter_response("labram", sfreq=500.0, window_seconds=4.0, form=form, freqs=[10.0, 50.0])
        db = 20 * np.log10(gain)
        assert abs(db[0]) < 0.1 and db[1] < -20, (form, db)


def test_filter_response_of_a_fitted_estimator(synthetic):
    est = FoundationTransformer(**tiny("labram"), sfreq=synthetic.sfreq, ch_names=synthetic.ch_names,
                                random_state=0).fit(synthetic.X[:2])
    fig = plot_filter_response(est)
    title = fig.axes[0].get_title()
    assert "250 Hz" in title and "band-pass 0.1-75 Hz" in title
    labels = [line.get_label() for line in fig.axes[0].get_lines()]
    assert any(label.startswith("per 2 s window") for label in labels)
    with pytest.raises(ValueError, match="leave sfreq and window_seconds unset"):
        plot_filter_response(est, sfreq=500.0)


@pytest.mark.parametrize("sfreq", [250, 1000, 5000, 20000])
def test_filter_response_edge_labels_never_overlap(sfreq):
    """LUNA's 50 and 60 Hz notch labels overlapped at 5 kHz (the log axis squeezes them together)."""
    fig = plot_filter_response("luna", sfreq=sfreq, form="continuous")
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    texts = fig.axes[0].texts
    assert sorted(t.get_text() for t in texts) == ["high-pass 0.1 Hz", "low-pass 75 Hz", "notch 50 Hz", "notch 60 Hz"]
    boxes = [t.get_window_extent(renderer) for t in texts]
    assert not [(a, b) for i, a in enumerate(boxes) for b in boxes[i + 1:] if a.overlaps(b)]


def test_filter_response_bad_inputs():
    with pytest.raises(ValueError, match="No filter to plot"):
        plot_filter_response("bendr", sfreq=256.0)
    with pytest.raises(ValueError, match="Give the input's sampling rate"):
        plot_filter_response("labram")
    with pytest.raises(ValueError, match="form='windows' needs the window length"):
        plot_filter_response("labram", sfreq=500.0, form="windows")
    with pytest.raises(ValueError, match="form='bode'"):
        plot_filter_response("labram", sfreq=500.0, form="bode")
    with pytest.raises(ValueError, match="Unknown model"):
        plot_filter_response("nomodel", sfreq=500.0)


# -- packaging ---------------------------------------------------------------------------
def test_viz_imports_matplotlib_only_inside_functions():
    """``import eegfm_sklearn.viz`` adds no matplotlib import of its own (braindecode already makes one)."""
    for path in (ROOT / "eegfm_sklearn" / "viz").glob("*.py"):
        tree = ast.parse(path.read_text())
        for node in tree.body:
            if isinstance(node, ast.Import):
                assert not any(a.name.split(".")[0] == "matplotlib" for a in node.names), path.name
            if isinstance(node, ast.ImportFrom):
                assert (node.module or "").split(".")[0] != "matplotlib", path.name


# -- gallery ------------------------------------------------------------------------------
GALLERY = sorted((ROOT / "examples").glob("plot_*.py"))


def test_gallery_has_one_script_per_plot():
    names = {p.stem for p in GALLERY}
    assert {"plot_training_curves", "plot_subject_scores", "plot_embeddings", "plot_channel_report",
            "plot_filter_response"} <= names
    for path in GALLERY:  # sphinx-gallery: a docstring opening with an RST title, then cells
        doc = ast.get_docstring(ast.parse(path.read_text()))
        title, underline = doc.splitlines()[:2]
        assert title and set(underline) == {"="} and len(underline) >= len(title), path.name
        assert "# %%" in path.read_text(), path.name

# Each gallery script runs in the documentation build (tests/test_docs.py), which aborts on an
# example's error and checks that every script drew a figure.
