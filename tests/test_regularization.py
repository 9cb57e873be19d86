"""Weight decay, AdamW and gradient clipping, against steps computed by hand from the published
formulas (torch.optim.SGD's weight_decay, torch.optim.AdamW; clipping by the global norm) (issue 13, part 3)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import functional_nn as fnn
from functional_nn import io as fio

RNG = np.random.default_rng(0)
P = (
    fnn.Dense(RNG.standard_normal((3, 2)), RNG.standard_normal(2)),
    fnn.Dense(RNG.standard_normal((2, 1)), RNG.standard_normal(1)),
)
G1 = (
    fnn.Dense(RNG.standard_normal((3, 2)), RNG.standard_normal(2)),
    fnn.Dense(RNG.standard_normal((2, 1)), RNG.standard_normal(1)),
)
G2 = (
    fnn.Dense(RNG.standard_normal((3, 2)), RNG.standard_normal(2)),
    fnn.Dense(RNG.standard_normal((2, 1)), RNG.standard_normal(1)),
)
LR, WD = 0.1, 0.05


def leaves_of(tree: fnn.Params) -> list[np.ndarray]:
    return [a for r in tree if isinstance(r, fnn.Dense) for a in (r.w, r.b)]


def two_steps(opt: fnn.Optimizer) -> fnn.Params:
    state = opt.init(P)
    p, state = opt.update(G1, state, P)
    p, _ = opt.update(G2, state, p)
    return p


def assert_close(got: fnn.Params, want: list[np.ndarray]) -> None:
    for a, b in zip(leaves_of(got), want, strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-15)


@pytest.mark.parametrize("biases", [True, False])
def test_sgd_with_momentum_and_weight_decay_is_torchs(biases: bool) -> None:
    """torch.optim.SGD(momentum=m, weight_decay=wd): d_p = g + wd p; buf = m buf + d_p; p -= lr buf."""
    got = two_steps(fnn.momentum(lr=LR, beta=0.9, weight_decay=WD, decay_biases=biases))
    want = []
    for k, (p, g1, g2) in enumerate(zip(leaves_of(P), leaves_of(G1), leaves_of(G2), strict=True)):
        wd = WD if biases or k % 2 == 0 else 0.0  # leaves alternate w, b
        buf = g1 + wd * p
        p1 = p - LR * buf
        buf = 0.9 * buf + (g2 + wd * p1)
        want.append(p1 - LR * buf)
    assert_close(got, want)


def test_adamw_is_torchs() -> None:
    """torch.optim.AdamW: p *= 1 - lr wd; m, v moments of g; p -= lr m_hat / (sqrt(v_hat) + eps)."""
    b1, b2, eps = 0.9, 0.999, 1e-8
    got = two_steps(fnn.adamw(lr=LR, weight_decay=WD))
    want = []
    for p, g1, g2 in zip(leaves_of(P), leaves_of(G1), leaves_of(G2), strict=True):
        m, v = np.zeros_like(p), np.zeros_like(p)
        for t, g in ((1, g1), (2, g2)):
            p = p * (1 - LR * WD)
            m, v = b1 * m + (1 - b1) * g, b2 * v + (1 - b2) * g * g
            p = p - LR * (m / (1 - b1**t)) / (np.sqrt(v / (1 - b2**t)) + eps)
        want.append(p)
    assert_close(got, want)


def test_adam_with_weight_decay_is_l2_in_the_gradient() -> None:
    """torch.optim.Adam(weight_decay=wd): the moments see g + wd p (not decoupled)."""
    b1, b2, eps = 0.9, 0.999, 1e-8
    got = two_steps(fnn.adam(lr=LR, weight_decay=WD))
    want = []
    for p, g1, g2 in zip(leaves_of(P), leaves_of(G1), leaves_of(G2), strict=True):
        m, v = np.zeros_like(p), np.zeros_like(p)
        for t, g in ((1, g1), (2, g2)):
            g = g + WD * p
            m, v = b1 * m + (1 - b1) * g, b2 * v + (1 - b2) * g * g
            p = p - LR * (m / (1 - b1**t)) / (np.sqrt(v / (1 - b2**t)) + eps)
        want.append(p)
    assert_close(got, want)


@pytest.mark.parametrize("name", ["sgd", "nesterov", "rmsprop", "adagrad"])
def test_weight_decay_adds_wd_p_to_the_gradient_of_every_optimizer(name: str) -> None:
    plain = fnn.OPTIMIZERS[name](lr=LR)
    decayed = fnn.OPTIMIZERS[name](lr=LR, weight_decay=WD)
    shifted = tuple(fnn.Dense(w=g.w + WD * p.w, b=g.b + WD * p.b) for g, p in zip(G1, P, strict=True))
    want, _ = plain.update(shifted, plain.init(P), P)
    got, _ = decayed.update(G1, decayed.init(P), P)
    assert_close(got, leaves_of(want))


def test_clipping_by_the_global_norm_per_model() -> None:
    net = fnn.mlp((2, 6, 1), hidden="tanh", output="identity")
    data = fnn.generate_linear(30, seed=0)
    seeds = [0, 1]
    params = fnn.init(net, seed=seeds)
    cfg = fnn.TrainConfig(epochs=1, optimizer=fnn.sgd(lr=0.5), loss="mse", seed=seeds, clip_norm=0.2)
    trace = fnn.train(net, params, data, cfg)
    _, grads = fnn.grad(net, params, data.x, data.y, loss="mse")
    for k in range(2):
        g = [a[k] for a in leaves_of(grads)]
        norm = float(np.sqrt(sum(np.sum(a * a) for a in g)))
        assert float(trace.grad_norm[0, k]) == pytest.approx(norm, rel=1e-12)  # the norm before clipping
        scale = min(1.0, 0.2 / norm)
        want = [p[k] - 0.5 * scale * gk for p, gk in zip(leaves_of(params), g, strict=True)]
        assert_close(tuple(fnn.Dense(w=r.w[k], b=r.b[k]) for r in trace.params if isinstance(r, fnn.Dense)), want)


@pytest.mark.parametrize(
    "opt",
    [fnn.sgd(lr=0.3, weight_decay=0.01), fnn.sgd(lr=0.3, weight_decay=0.01, decay_biases=False), fnn.adamw(lr=0.02)],
    ids=["sgd-wd", "sgd-wd-no-biases", "adamw"],
)
def test_engines_stacks_files_and_resume(tmp_path: Path, opt: fnn.Optimizer) -> None:
    net = fnn.mlp((2, 8, 1), hidden="tanh", output="identity")
    data = fnn.generate_linear(40, seed=1)
    seeds = [0, 1, 2]

    def cfg(epochs: int) -> fnn.TrainConfig:
        return fnn.TrainConfig(epochs=epochs, optimizer=opt, loss="mse", batch_size=8, seed=seeds, clip_norm=1.0)

    whole = fnn.train(net, fnn.init(net, seed=seeds), data, cfg(20))
    assert fnn.compare_traces(whole, fnn.train(net, fnn.init(net, seed=seeds), data, cfg(20), engine="reference")).equal
    alone = fnn.train(net, fnn.init(net, seed=1), data, cfg(20).member(1))
    assert fnn.compare_traces(whole.member(1), alone).max_rel_diff <= 1e-12
    fio.save_trace(tmp_path / "t.npz", fnn.train(net, fnn.init(net, seed=seeds), data, cfg(7)))
    loaded = fio.load_trace(tmp_path / "t.npz")
    assert loaded.config == cfg(7) and loaded.config.optimizer.hyperparams == opt.hyperparams
    assert fnn.compare_traces(fnn.resume(loaded, data, 13), whole).equal


def test_refusals_name_the_argument() -> None:
    with pytest.raises(ValueError, match=r"weight_decay must be in \[0\.0, inf\), got -0\.1"):
        fnn.sgd(weight_decay=-0.1)
    with pytest.raises(ValueError, match="weight_decay must be in"):
        fnn.adamw(weight_decay=-1.0)
    with pytest.raises(TypeError, match="decay_biases must be a bool"):
        fnn.adam(decay_biases=1)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="clip_norm must be > 0"):
        fnn.TrainConfig(epochs=1, optimizer=fnn.sgd(), loss="mse", clip_norm=0.0)
