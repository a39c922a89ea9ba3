"""Token mode: µ-law tokeniser and the Brainformer-style token network."""

import numpy as np
import pytest
import torch

from eegfm_sklearn.eeg2meg import persist
from eegfm_sklearn.eeg2meg.brainformer import BrainformerNetwork, token_cross_entropy
from eegfm_sklearn.eeg2meg.networks import build_network
from eegfm_sklearn.eeg2meg.tokens import (
    BOS,
    EOS,
    MU,
    N_LEVELS,
    N_SPECIAL,
    PAD,
    VOCAB_SIZE,
    MuLawTokenizer,
    level_positions,
    level_targets,
    mu_law_compand,
    mu_law_expand,
    quantization_error_bound,
)

# The reference's design (past MEG tokens fed back) unless a test says autoregressive=False.
NET = dict(n_chans_in=5, n_chans_out=7, d_model=16, n_heads=2, d_ff=32, dropout=0.0, n_routers=3, max_len=24,
           autoregressive=True)


pytestmark = pytest.mark.usefixtures("one_thread")  # conftest.py


def tiny_net(seed=0, **kw):
    torch.manual_seed(seed)
    return BrainformerNetwork(**{**NET, **kw}).eval()


def random_tokens(shape, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.randint(N_SPECIAL, VOCAB_SIZE, shape, generator=g)


# -- tokeniser ----------------------------------------------------------------------------


def test_vocabulary_layout():
    assert (PAD, BOS, EOS) == (0, 1, 2)
    assert N_LEVELS == 255 and VOCAB_SIZE == 258
    assert MuLawTokenizer().vocab_size == VOCAB_SIZE


def test_compand_expand_are_inverse_and_odd():
    x = torch.linspace(-1, 1, 1001, dtype=torch.float64)
    y = mu_law_compand(x)
    torch.testing.assert_close(mu_law_expand(y), x, atol=1e-12, rtol=0)
    torch.testing.assert_close(mu_law_compand(-x), -y)
    assert y[0] == -1 and y[-1] == 1


def test_round_trip_error_within_analytic_bound():
    rng = np.random.default_rng(0)
    # Heavy-tailed channels of very different units (volts, tesla) and offsets.
    scales = np.array([1e-5, 3e-13, 5e-12, 1.0])[:, None]
    X = rng.laplace(size=(20, 4, 200)) * scales + 2 * scales
    tok = MuLawTokenizer(clip_percentile=99.0).fit(X)
    tokens = tok.encode(X)
    assert tokens.dtype == np.int64 and tokens.min() >= N_SPECIAL and tokens.max() < VOCAB_SIZE
    X_hat = tok.decode(tokens)
    z = (X - tok.center_[:, None]) / tok.scale_[:, None]
    inside = np.abs(z) <= 1
    bound = quantization_error_bound(z) * tok.scale_[:, None]
    err = np.abs(X - X_hat)
    assert inside.mean() > 0.98  # 99th percentile clamp
    assert (err[inside] <= bound[inside] * (1 + 1e-9)).all()
    # Outside the clamp a sample saturates at centre +- clamp value.
    sat = tok.center_[:, None] + np.sign(z) * tok.scale_[:, None]
    np.testing.assert_allclose(X_hat[~inside], np.broadcast_to(sat, X.shape)[~inside], rtol=1e-9)


def test_error_bound_is_tight():
    # Midway between the two outermost levels the error is g(1) - g(1 - h) with g the expansion:
    # the bound there overestimates it only by the factor h L / (1 - exp(-h L)), L = log(1 + mu).
    tok = MuLawTokenizer().set_stats(np.zeros(1), np.ones(1))
    x = np.linspace(-1, 1, 200_001)[None, None]
    err = np.abs(tok.decode(tok.encode(x)) - x)
    ratio = err / quantization_error_bound(x)
    assert ratio.max() <= 1
    hl = np.log1p(MU) / (N_LEVELS - 1)
    assert ratio.max() >= (1 - np.exp(-hl)) / hl * (1 - 1e-3)  # 1e-3: the grid's spacing


def test_median_is_a_level_and_fitted_statistics():
    X = np.array([[[-4.0, -1.0, 3.0, 10.0, 5.0]]])
    tok = MuLawTokenizer(clip_percentile=100).fit(X)
    assert tok.center_[0] == 3.0 and tok.scale_[0] == 7.0
    assert tok.decode(tok.encode(np.full((1, 1, 1), 3.0)))[0, 0, 0] == 3.0
    assert tok.decode(tok.encode(X)).max() == pytest.approx(10.0)


def test_flat_channel_gets_unit_scale():
    X = np.zeros((2, 2, 10))
    X[:, 1] = np.arange(10)
    tok = MuLawTokenizer().fit(X)
    assert tok.scale_[0] == 1.0
    np.testing.assert_array_equal(tok.decode(tok.encode(X))[:, 0], 0.0)


def test_tokenizer_errors():
    tok = MuLawTokenizer().fit(np.ones((1, 2, 5)))
    with pytest.raises(ValueError, match="PAD/BOS/EOS"):
        tok.decode(np.full((1, 2, 3), BOS))
    with pytest.raises(ValueError, match="fitted on 2"):
        tok.encode(np.ones((1, 3, 5)))
    with pytest.raises(ValueError, match="integers"):
        tok.decode(np.ones((1, 2, 5)))
    with pytest.raises(ValueError, match="NaN"):
        tok.encode(np.full((1, 2, 5), np.nan))
    with pytest.raises(ValueError, match="odd integer"):
        MuLawTokenizer(n_levels=256).fit(np.ones((1, 2, 5)))
    with pytest.raises(AttributeError, match="not fitted"):
        MuLawTokenizer().encode(np.ones((1, 2, 5)))


def test_level_targets_sum_to_one_peak_at_the_true_level_and_sigma_0_is_one_hot():
    g = torch.Generator().manual_seed(0)
    pos = torch.cat([torch.rand(500, generator=g, dtype=torch.float64) * (N_LEVELS - 1),
                     torch.tensor([0.0, 0.3, 253.8, N_LEVELS - 1.0], dtype=torch.float64)])
    nearest = torch.round(pos).long()
    one_hot = level_targets(pos, N_LEVELS, 0.0)
    assert torch.equal(one_hot, torch.nn.functional.one_hot(nearest, N_LEVELS).double())
    for sigma in (0.5, 1.0, 2.0, 8.0):
        q = level_targets(pos, N_LEVELS, sigma)
        assert q.shape == (pos.numel(), N_LEVELS) and (q >= 0).all()
        torch.testing.assert_close(q.sum(-1), torch.ones_like(pos), rtol=0, atol=1e-12)
        assert torch.equal(q.argmax(-1), nearest)
        # Centred on the unrounded position, not the nearest level: away from the edges the mean is it
        # (up to the binning, which shifts the mean by ~exp(-2 pi^2 sigma^2): 0.007 at sigma 0.5).
        inside = (pos > 6 * sigma) & (pos < N_LEVELS - 1 - 6 * sigma)
        mean = (q * torch.arange(N_LEVELS, dtype=q.dtype)).sum(-1)
        torch.testing.assert_close(mean[inside], pos[inside], rtol=0, atol=1e-6 if sigma >= 1 else 0.01)
    # A Gaussian integrated over the bins: a sample on level 100 with sigma 1 gives level 101
    # Phi(1.5) - Phi(0.5) and level 100 Phi(0.5) - Phi(-0.5).
    q = level_targets(torch.tensor([100.0], dtype=torch.float64), N_LEVELS, 1.0)[0]
    phi = torch.special.ndtr(torch.tensor([-0.5, 0.5, 1.5], dtype=torch.float64))
    torch.testing.assert_close(q[100:102], torch.stack([phi[1] - phi[0], phi[2] - phi[1]]), rtol=1e-8, atol=0)
    with pytest.raises(ValueError, match="sigma must be >= 0"):
        level_targets(pos, N_LEVELS, -1.0)


def test_level_positions_round_to_the_tokens():
    g = torch.Generator().manual_seed(1)
    x = torch.randn(4, 3, 50, generator=g, dtype=torch.float64) * 2
    center, clip = torch.tensor([0.1, -0.2, 0.0], dtype=torch.float64), torch.tensor([1.0, 2.0, 3.0],
                                                                                       dtype=torch.float64)
    pos = level_positions(x, center, clip)
    assert pos.min() >= 0 and pos.max() <= N_LEVELS - 1
    tok = MuLawTokenizer().set_stats(center.numpy(), clip.numpy()).encode(x.numpy())
    np.testing.assert_array_equal(torch.round(pos).long().numpy() + N_SPECIAL, tok)


# -- network -----------------------------------------------------------------------------


def test_shapes_routers_and_loss():
    net = tiny_net()
    eeg, meg = random_tokens((2, 5, 11)), random_tokens((2, 7, 11), seed=1)
    logits = net.logits(eeg, meg)
    assert logits.shape == (2, 7, 11, VOCAB_SIZE)
    assert net.encoder[0].routers.shape == (24, 3, 16)  # (max_len, n_routers, d_model)
    # PAD targets do not count.
    padded = meg.clone()
    padded[..., 5:] = PAD
    manual = torch.nn.functional.cross_entropy(logits[..., :5, :].reshape(-1, VOCAB_SIZE), meg[..., :5].reshape(-1))
    assert token_cross_entropy(logits, padded).item() == pytest.approx(manual.item(), rel=1e-6)


def test_soft_target_loss_rewards_near_misses_and_sigma_0_is_plain_cross_entropy():
    plain, soft = tiny_net(autoregressive=False), tiny_net(autoregressive=False, target_sigma=2.0)
    for net in (plain, soft):
        net.y_center.fill_(0.05)
        net.y_clip.fill_(1.5)
    g = torch.Generator().manual_seed(3)
    meg = torch.randn(2, NET["n_chans_out"], 9, generator=g) * 0.3
    true = plain.meg_tokens(meg)
    random_logits = torch.randn(2, NET["n_chans_out"], 9, VOCAB_SIZE, generator=g)
    assert plain.loss(random_logits, meg).item() == pytest.approx(token_cross_entropy(random_logits, true).item())
    # The soft loss is the cross-entropy against level_targets around the unrounded levels.
    pos = level_positions(meg, soft.y_center, soft.y_clip).float()
    q = level_targets(pos, N_LEVELS, 2.0)
    manual = -(q * random_logits.log_softmax(-1)[..., N_SPECIAL:]).sum(-1).mean()
    assert soft.loss(random_logits, meg).item() == pytest.approx(manual.item(), rel=1e-6)
    # A confident prediction one level off costs less than one 40 levels off with the soft target; the
    # same with the true token alone (neither is the true level).
    levels = (true - N_SPECIAL).clamp(41, N_LEVELS - 42)
    meg_inside = soft.meg_values(levels + N_SPECIAL)  # samples exactly on those levels

    def confident(offset):
        return 20 * torch.nn.functional.one_hot(levels + N_SPECIAL + offset, VOCAB_SIZE).float()

    assert soft.loss(confident(1), meg_inside) < soft.loss(confident(40), meg_inside) - 2
    assert plain.loss(confident(1), meg_inside).item() == pytest.approx(plain.loss(confident(40), meg_inside).item())
    # token_cross_entropy scores the true tokens whatever the training target.
    assert soft.token_cross_entropy(random_logits, meg).item() == pytest.approx(
        token_cross_entropy(random_logits, true).item())
    for bad in (-0.5, float("nan"), float("inf")):
        with pytest.raises(ValueError, match="target_sigma must be a finite number >= 0"):
            tiny_net(target_sigma=bad)


def test_decoder_is_causal_in_time():
    net = tiny_net()
    eeg, meg = random_tokens((1, 5, 12)), random_tokens((1, 7, 12), seed=1)
    base = net.logits(eeg, meg)
    t = 6
    later = meg.clone()
    later[..., t:] = random_tokens((1, 7, 12 - t), seed=2)
    out = net.logits(eeg, later)
    # Output step t scores MEG step t from MEG steps < t (inputs shifted right): steps <= t unchanged.
    torch.testing.assert_close(out[:, :, : t + 1], base[:, :, : t + 1], atol=1e-5, rtol=1e-5)
    assert not torch.allclose(out[:, :, t + 1 :], base[:, :, t + 1 :], atol=1e-3)


@pytest.mark.parametrize("n_decoder_layers", [1, 2])
def test_generate_matches_teacher_forcing_on_its_own_output(n_decoder_layers):
    # Incremental decoding (cached keys of past steps) must give, at every step, the logits that the
    # full teacher-forced pass gives once the finished sequence is fed back: if a generated step had
    # read anything from later steps, or the cache were misaligned, they would differ.
    net = tiny_net(seed=3, n_decoder_layers=n_decoder_layers)
    eeg = random_tokens((2, 5, 10), seed=4)
    gen, step_logits = net.generate(eeg, return_logits=True)
    assert gen.shape == (2, 7, 10)
    assert gen.min() >= N_SPECIAL
    logits = net.logits(eeg, gen)
    logits[..., :N_SPECIAL] = -torch.inf
    torch.testing.assert_close(step_logits, logits, atol=1e-4, rtol=1e-4)
    torch.testing.assert_close(logits.argmax(-1), gen)


def test_generate_sampling_strategies():
    net = tiny_net(seed=5)
    eeg = random_tokens((1, 5, 8), seed=6)
    a = net.generate(eeg, strategy="temperature", temperature=2.0, seed=1)
    b = net.generate(eeg, strategy="temperature", temperature=2.0, seed=1)
    c = net.generate(eeg, strategy="temperature", temperature=2.0, seed=2)
    torch.testing.assert_close(a, b)
    assert not torch.equal(a, c)
    assert a.min() >= N_SPECIAL
    g = torch.Generator().manual_seed(9)
    top1 = net.generate(eeg, strategy="top_k", top_k=1, generator=g)
    torch.testing.assert_close(top1, net.generate(eeg))
    top3 = net.generate(eeg, strategy="top_k", top_k=3, temperature=5.0, seed=0)
    logits = net.logits(eeg, top3)
    logits[..., :N_SPECIAL] = -torch.inf
    rank = (logits > logits.gather(-1, top3[..., None])).sum(-1)
    assert rank.max() < 3  # every sampled token is among the 3 most likely at its step


def test_generate_errors_and_window_limit():
    net = tiny_net()
    eeg = random_tokens((1, 5, 4))
    with pytest.raises(ValueError, match="strategy must be one of"):
        net.generate(eeg, strategy="beam")
    with pytest.raises(ValueError, match="needs top_k"):
        net.generate(eeg, strategy="top_k")
    with pytest.raises(ValueError, match="temperature must be > 0"):
        net.generate(eeg, strategy="temperature", temperature=0)
    with pytest.raises(ValueError, match="max_len=24"):
        net.encode(random_tokens((1, 5, 25)))
    with pytest.raises(ValueError, match="same length"):
        net.logits(eeg, random_tokens((1, 7, 5)))
    with pytest.raises(ValueError, match=r"shape \(batch, 5, time\)"):
        net.encode(random_tokens((1, 4, 4)))


def test_training_reads_the_eeg():
    # MEG copies EEG channel 0, whose tokens are i.i.d. over 4 levels: a network ignoring the EEG
    # cannot beat the entropy of that marginal (earlier MEG steps carry no information either).
    net = tiny_net(seed=0).train()
    g = torch.Generator().manual_seed(7)
    eeg = N_SPECIAL + 60 * torch.randint(0, 4, (8, 5, 8), generator=g)
    meg = eeg[:, :1].expand(-1, 7, -1).clone()
    p = torch.bincount(meg.flatten()).double()
    p = p[p > 0] / p.sum()
    marginal_entropy = float(-(p * p.log()).sum())
    opt = torch.optim.Adam(net.parameters(), lr=1e-2)
    for _ in range(80):
        opt.zero_grad()
        loss = token_cross_entropy(net.logits(eeg, meg), meg)
        loss.backward()
        opt.step()
    assert token_cross_entropy(net.eval().logits(eeg, meg), meg).item() < marginal_entropy


def test_hooks_tokenise_floats_and_forward_decodes(tmp_path):
    # The estimator's view: standardised float windows in, floats out, scaling fitted in prepare().
    rng = np.random.default_rng(0)
    X = rng.standard_normal((3, 5, 9)).astype(np.float32)
    Y = (rng.standard_normal((3, 7, 9)) * 2 + 1).astype(np.float32)
    torch.manual_seed(1)
    net = build_network("tokens", **{**NET, **BrainformerNetwork.data_kwargs(X, Y)}).eval()
    assert net.max_len == 9 and net.encoder[0].routers.shape == (9, 3, 16)
    net.check_windows(9, 9)
    with pytest.raises(ValueError, match="one MEG sample per EEG sample"):
        net.check_windows(9, 18)
    net.prepare(X, Y)
    _, meg_tok = net.tokenizers()
    np.testing.assert_allclose(meg_tok.center_, np.median(Y.transpose(1, 0, 2).reshape(7, -1), axis=1))
    eeg, meg = torch.from_numpy(X), torch.from_numpy(Y)
    out = net.training_output(eeg, meg)
    torch.testing.assert_close(net.loss(out, meg), token_cross_entropy(out, torch.from_numpy(meg_tok.encode(Y))))
    pred = net(eeg)
    assert pred.dtype == torch.float32 and pred.shape == (3, 7, 9)
    # Means of distributions over levels: inside each channel's clamp range, and not levels themselves.
    lo, hi = meg_tok.center_ - meg_tok.scale_, meg_tok.center_ + meg_tok.scale_
    assert (pred.numpy() >= lo[:, None] - 1e-5).all() and (pred.numpy() <= hi[:, None] + 1e-5).all()
    assert not np.allclose(meg_tok.decode(meg_tok.encode(pred.numpy())), pred.numpy(), rtol=1e-5, atol=1e-6)
    greedy = net.set_decoding("greedy")(eeg)  # generated tokens decode to levels of the MEG tokeniser
    np.testing.assert_allclose(meg_tok.decode(meg_tok.encode(greedy.numpy())), greedy.numpy(), rtol=1e-5, atol=1e-6)
    net.set_decoding("expected")

    persist.save_folder(net, tmp_path)
    loaded = persist.load_network(tmp_path)
    assert isinstance(loaded, BrainformerNetwork) and loaded.build_kwargs == net.build_kwargs
    torch.testing.assert_close(loaded(eeg), pred)
    for name in ("x_center", "x_clip", "y_center", "y_clip"):
        torch.testing.assert_close(getattr(loaded, name), getattr(net, name))


def test_sampling_options_fail_at_build():
    with pytest.raises(ValueError, match="needs top_k"):
        BrainformerNetwork(**{**NET, "decoding": "top_k"})
    with pytest.raises(ValueError, match="strategy must be one of"):
        BrainformerNetwork(**{**NET, "decoding": "beam"})


def test_one_pass_network_reads_only_the_eeg_and_generates_in_one_pass():
    net = tiny_net(seed=2, autoregressive=False)
    eeg = random_tokens((2, 5, 10), seed=3)
    X = torch.randn(2, 5, 10)
    # Training output does not depend on the MEG it is trained on (no teacher forcing to lean on)...
    a = net.training_output(X, torch.randn(2, 7, 10))
    torch.testing.assert_close(a, net.training_output(X, torch.randn(2, 7, 10)))
    assert net.meg_embedding is None
    # ...but on the EEG, at the step it predicts and its stem_lags neighbours only when nothing else mixes time.
    gen, logits = net.generate(eeg, return_logits=True)
    torch.testing.assert_close(logits[..., N_SPECIAL:], net.logits(eeg)[..., N_SPECIAL:])
    torch.testing.assert_close(gen, logits.argmax(-1))
    other = eeg.clone()
    other[..., 4] = random_tokens((2, 5), seed=9)
    assert not torch.allclose(net.logits(other), net.logits(eeg))
    with pytest.raises(ValueError, match="EEG alone"):
        net.decode(net.encode(eeg), eeg[:, :1].expand(-1, 7, -1))


def test_expected_decoding_is_the_mean_level_value():
    # Two equally likely levels far apart: the greedy pick is one of them, the mean lies half-way.
    net = tiny_net(autoregressive=False)
    lo, hi = N_SPECIAL + 40, N_SPECIAL + 220
    logits = torch.full((1, 1, 1, VOCAB_SIZE), -1e4)
    logits[..., [lo, hi]] = 0.0
    values = net.level_values(torch.tensor([lo, hi]))
    assert net.expected_values(logits).item() == pytest.approx(float(values.mean()), abs=1e-6)
    assert values[0] < 0 < values[1]


def test_fused_expected_prediction_equals_the_mean_of_the_logits():
    # forward() never builds the logits tensor (head, softmax and mean fused in chunks); it must
    # give the mean of the distribution the logits describe, in every chunk, with trained-like
    # (non-zero) weights.
    torch.manual_seed(0)
    net = tiny_net(autoregressive=False)
    with torch.no_grad():
        for p in net.parameters():
            p.add_(torch.randn_like(p) * 0.1)
    net.y_center.uniform_(-1, 1)
    net.y_clip.uniform_(0.5, 2)
    eeg = torch.randn(3, net.n_chans_in, 10)
    with torch.no_grad():
        encoded = net.encode(net.eeg_tokens(eeg))
        from_logits = net.expected_values(net.decode(encoded))
        fused = net.expected_from_stream(net._stream(encoded), chunk=7)  # chunks that split windows
        predicted = net(eeg)
    torch.testing.assert_close(fused, from_logits, rtol=1e-5, atol=1e-6)
    in_units = from_logits.double() * net.y_clip[:, None] + net.y_center[:, None]
    torch.testing.assert_close(predicted, in_units.float(), rtol=1e-5, atol=1e-5)


# -- estimator, mode="tokens" ---------------------------------------------------------------

EST = dict(mode="tokens", d_model=16, n_heads=2, n_encoder_layers=1, n_decoder_layers=1, n_routers=3,
           d_ff=32, max_epochs=3, batch_size=8, lr=1e-2, random_state=0)


@pytest.fixture(scope="module")
def pairs():
    """MEG (T, tiny units) = a fixed instantaneous mix of EEG (V) plus noise; 12-sample windows."""
    rng = np.random.default_rng(0)
    X = rng.standard_normal((16, 4, 12)) * 1e-5
    W = rng.standard_normal((6, 4))
    Y = np.einsum("oc,nct->not", W, X) * 1e-8 + rng.standard_normal((16, 6, 12)) * 1e-14
    return X, Y


@pytest.fixture(scope="module")
def fitted_tokens(pairs):
    from eegfm_sklearn.eeg2meg import EEGToMEGRegressor

    return EEGToMEGRegressor(**EST).fit(*pairs)


def test_token_mode_fit_predict_in_input_units(fitted_tokens, pairs):
    X, Y = pairs
    est = fitted_tokens
    assert isinstance(est.module_, BrainformerNetwork) and est.module_.max_len == 12
    pred = est.predict(X)
    assert pred.shape == Y.shape and pred.dtype == np.float64
    # Decoded levels, back in MEG units: inside each channel's clamp range around its median.
    _, meg_tok = est.module_.tokenizers()
    lo = (meg_tok.center_ - meg_tok.scale_) * est.y_scale_ + est.y_mean_
    hi = (meg_tok.center_ + meg_tok.scale_) * est.y_scale_ + est.y_mean_
    assert (pred >= lo[:, None] - 1e-20).all() and (pred <= hi[:, None] + 1e-20).all()
    assert np.isfinite(est.score(X, Y))
    assert est.predict(X[:2, :, :7]).shape == (2, 6, 7)  # shorter windows are fine
    with pytest.raises(ValueError, match="max_len=12"):
        est.predict(np.zeros((1, 4, 13)))


def test_token_cross_entropy_falls_with_training(pairs):
    from eegfm_sklearn.eeg2meg import EEGToMEGRegressor

    X, Y = pairs
    untrained = EEGToMEGRegressor(**{**EST, "max_epochs": 0}).fit(X, Y)
    trained = EEGToMEGRegressor(**{**EST, "max_epochs": 15}).fit(X, Y)
    ce0, ce = untrained.token_cross_entropy(X, Y), trained.token_cross_entropy(X, Y)
    assert ce < ce0
    # It is the network's own loss: recompute it for one batch by hand.
    net = trained.module_
    eeg = torch.as_tensor((X[:8] - trained.x_mean_[:, None]) / trained.x_scale_[:, None], dtype=torch.float32)
    meg = torch.as_tensor((Y[:8] - trained.y_mean_[:, None]) / trained.y_scale_[:, None], dtype=torch.float32)
    with torch.no_grad():
        by_hand = token_cross_entropy(net.training_output(eeg, meg), net.meg_tokens(meg)).item()
    assert trained.token_cross_entropy(X[:8], Y[:8]) == pytest.approx(by_hand, rel=1e-5)


def test_token_cross_entropy_needs_token_mode(pairs):
    from eegfm_sklearn.eeg2meg import EEGToMEGRegressor

    est = EEGToMEGRegressor(d_model=8, n_heads=2, n_encoder_layers=0, seg_len=4, skip_lags=1, max_epochs=0,
                            random_state=0).fit(*pairs)
    with pytest.raises(ValueError, match="mode='tokens'"):
        est.token_cross_entropy(*pairs)


def test_token_mode_persistence_round_trips(fitted_tokens, pairs, tmp_path):
    import pickle

    import joblib
    from sklearn.base import clone

    from eegfm_sklearn.eeg2meg import EEGToMEGRegressor

    X = pairs[0]
    ref = fitted_tokens.predict(X)
    fitted_tokens.save_pretrained(tmp_path / "m")
    back = EEGToMEGRegressor.from_pretrained(tmp_path / "m")
    assert back.mode == "tokens" and back.get_params() == fitted_tokens.get_params()
    np.testing.assert_array_equal(back.predict(X), ref)
    np.testing.assert_array_equal(pickle.loads(pickle.dumps(fitted_tokens)).predict(X), ref)
    joblib.dump(fitted_tokens, tmp_path / "m.joblib")
    np.testing.assert_array_equal(joblib.load(tmp_path / "m.joblib").predict(X), ref)
    # Unfitted: clone and pickle keep the recipe; the copies train the same model.
    recipe = EEGToMEGRegressor(**{**EST, "max_epochs": 1})
    a = clone(recipe).fit(*pairs)
    b = pickle.loads(pickle.dumps(recipe)).fit(*pairs)
    np.testing.assert_array_equal(a.predict(X), b.predict(X))


def clone_params(est, **params):
    import pickle

    return pickle.loads(pickle.dumps(est)).set_params(**params)


def test_token_mode_sampling_is_seeded_by_random_state(fitted_tokens, pairs):
    import pickle

    X = pairs[0][:3]
    greedy = clone_params(fitted_tokens, decoding="greedy").predict(X)
    # Decoding parameters act at predict time, without refitting.
    sampler = pickle.loads(pickle.dumps(fitted_tokens)).set_params(decoding="temperature", decoding_temperature=3.0)
    state = torch.random.get_rng_state()
    a = sampler.predict(X)
    np.testing.assert_array_equal(sampler.predict(X), a)  # same random_state, same draws
    assert torch.equal(torch.random.get_rng_state(), state)  # global RNG untouched
    assert not np.array_equal(a, greedy)
    sampler.set_params(random_state=1)
    assert not np.array_equal(sampler.predict(X), a)
    sampler.set_params(decoding="top_k", decoding_top_k=1)  # top-1 sampling is greedy decoding
    np.testing.assert_array_equal(sampler.predict(X), greedy)


@pytest.mark.parametrize(
    "bad, match",
    [({"decoding": "beam"}, "decoding"), ({"decoding_temperature": 0.0}, "decoding_temperature"),
     ({"decoding_top_k": 0}, "decoding_top_k"),
     ({"clip_percentile": 0}, "clip_percentile"), ({"decoding": "top_k"}, "needs top_k"),
     ({"target_sigma": -1.0}, "target_sigma")],
)
def test_token_mode_parameter_errors(pairs, bad, match):
    from eegfm_sklearn.eeg2meg import EEGToMEGRegressor

    with pytest.raises(ValueError, match=match):
        EEGToMEGRegressor(**{**EST, **bad}).fit(*pairs)


def test_token_mode_rejects_unequal_window_lengths(pairs):
    from eegfm_sklearn.eeg2meg import EEGToMEGRegressor

    X, Y = pairs
    with pytest.raises(ValueError, match="one MEG sample per EEG sample"):
        EEGToMEGRegressor(**EST).fit(X, np.repeat(Y, 2, axis=2))


def test_router_count_defaults_to_the_modes_own():
    """``n_routers=None``: 10 routers per time position in token mode (the reference), 4 in continuous mode."""
    from eegfm_sklearn.eeg2meg import EEGToMEGRegressor
    from eegfm_sklearn.eeg2meg.networks import network_defaults

    X, Y = np.zeros((2, 5, 24)), np.zeros((2, 7, 24))
    assert EEGToMEGRegressor().n_routers is None
    for mode, expected in (("tokens", 10), ("continuous", 4)):
        assert network_defaults(mode)["n_routers"] == expected
        for given, built in ((None, expected), (3, 3)):
            est = EEGToMEGRegressor(mode=mode, n_routers=given, d_model=8, n_heads=2, seg_len=4)
            net = build_network(mode, **est._network_kwargs(X, Y))
            routers = [p for name, p in net.named_parameters() if name.endswith("routers")]
            assert routers and all(p.shape[-2] == built for p in routers), (mode, given)


def test_token_mode_target_sigma_trains_on_soft_targets_and_round_trips(pairs, tmp_path):
    from eegfm_sklearn.eeg2meg import EEGToMEGRegressor

    X, Y = pairs
    plain = EEGToMEGRegressor(**{**EST, "max_epochs": 2}).fit(X, Y)
    soft = EEGToMEGRegressor(**{**EST, "max_epochs": 2, "target_sigma": 2.0}).fit(X, Y)
    assert soft.module_.target_sigma == 2.0 and plain.module_.target_sigma == 0.0
    assert soft.history_[-1, "train_loss"] != plain.history_[-1, "train_loss"]
    # token_cross_entropy scores the true tokens, not the soft training loss.
    output, meg = _outputs_and_targets(soft, X[:8], Y[:8])
    hard = token_cross_entropy(output, soft.module_.meg_tokens(meg)).item()
    assert soft.token_cross_entropy(X[:8], Y[:8]) == pytest.approx(hard, rel=1e-5)
    assert abs(soft.module_.loss(output, meg).item() - hard) > 0.01
    soft.save_pretrained(tmp_path / "m")
    back = EEGToMEGRegressor.from_pretrained(tmp_path / "m")
    assert back.target_sigma == 2.0 and back.module_.target_sigma == 2.0
    np.testing.assert_array_equal(back.predict(X), soft.predict(X))


def _outputs_and_targets(est, X, Y):
    eeg = torch.as_tensor((X - est.x_mean_[:, None]) / est.x_scale_[:, None], dtype=torch.float32)
    meg = torch.as_tensor((Y - est.y_mean_[:, None]) / est.y_scale_[:, None], dtype=torch.float32)
    with torch.no_grad():
        return est.module_.training_output(eeg, meg), meg
