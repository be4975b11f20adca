"""Separation VAEs: shapes, eval determinism, prior samples and config checks."""
from __future__ import annotations

import pytest
import torch

from vae_core.core.errors import ConfigError, LabError
from vae_core.image.loss import separation_loss
from vae_core.core.models import build_model, config_from_dict, config_to_dict
from vae_core.core.registry import model_kinds
from vae_core.image.model import ConvConfig, MLPConfig


def test_forward_shapes_and_ranges(kind, model_factory, mixtures, small_configs):
    model = model_factory(kind)
    d = model.latent_dim
    assert d == small_configs[kind].latent_dim and model.kind == kind
    with torch.no_grad():
        out = model(mixtures, weight=0.3)
    n = len(mixtures)
    assert out.sources.shape == (n, 2, 28, 28)
    assert out.mixture.shape == (n, 28, 28)
    assert out.mu.shape == out.logvar.shape == out.z.shape == (n, 2, d)
    assert float(out.sources.min()) >= 0 and float(out.sources.max()) <= 1
    torch.testing.assert_close(out.mixture, 0.3 * out.sources[:, 0] + 0.7 * out.sources[:, 1])
    # The two latents are different heads, not copies.
    assert not torch.equal(out.mu[:, 0], out.mu[:, 1])


def test_decode_single_source(kind, model_factory):
    model = model_factory(kind).requires_grad_(False)
    z = torch.randn((4, model.latent_dim))
    for source in (0, 1):
        img = model.decode(z, source)
        assert img.shape == (4, 28, 28)
        assert float(img.min()) >= 0 and float(img.max()) <= 1
    assert not torch.equal(model.decode(z, 0), model.decode(z, 1))  # two separate decoders
    zz = torch.randn((4, 2, model.latent_dim))
    both = model.decode_all(zz)
    assert both.shape == (4, 2, 28, 28)
    torch.testing.assert_close(both[:, 1], model.decode(zz[:, 1], 1))


def test_eval_mode_uses_the_mean(kind, model_factory, mixtures):
    model = model_factory(kind).eval()
    with torch.no_grad():
        a, b = model(mixtures), model(mixtures)
        assert torch.equal(a.sources, b.sources)
        assert torch.equal(a.z, a.mu)
        torch.testing.assert_close(a.sources, model.decode_all(a.mu))
        # Asking for a sample in eval mode draws around the mean instead.
        s = model(mixtures, sample=True)
        assert not torch.equal(s.z, s.mu)
        torch.testing.assert_close(s.mu, a.mu)


def test_training_mode_samples(kind, model_factory, mixtures):
    model = model_factory(kind).train()
    out = model(mixtures)
    assert not torch.equal(out.z, out.mu)
    out2 = model(mixtures, sample=False)
    assert torch.equal(out2.z, out2.mu)


def test_reparameterize_statistics(small_configs):
    g = torch.Generator().manual_seed(0)
    mu = torch.full((20000, 1), 2.0)
    logvar = torch.full((20000, 1), 2 * torch.log(torch.tensor(3.0)).item())
    z = build_model("mlp", small_configs["mlp"]).reparameterize(mu, logvar, generator=g)
    assert z.mean().item() == pytest.approx(2.0, abs=0.1)
    assert z.std().item() == pytest.approx(3.0, abs=0.1)


def test_sample_prior(kind, model_factory):
    model = model_factory(kind)
    s = model.sample_prior(6, generator=torch.Generator().manual_seed(1))
    assert s.shape == (6, 2, 28, 28)
    assert not s.requires_grad
    assert float(s.min()) >= 0 and float(s.max()) <= 1
    again = model.sample_prior(6, generator=torch.Generator().manual_seed(1))
    assert torch.equal(s, again)


def test_a_few_steps_reduce_the_loss(kind, model_factory):
    torch.manual_seed(0)
    model = model_factory(kind).train()
    g = torch.Generator().manual_seed(0)
    digit, clothing = torch.rand((8, 28, 28), generator=g), torch.rand((8, 28, 28), generator=g)
    mixture = 0.5 * digit + 0.5 * clothing
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    losses = []
    for _ in range(5):
        out = model(mixture, sample=False)
        loss = separation_loss(out, digit, clothing, mixture)["total"]
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert losses[-1] < losses[0]


@pytest.mark.parametrize("kind, values", [
    ("mlp", {"latent_dim": 0}),
    ("mlp", {"latent_dim": 513}),
    ("mlp", {"hidden": ()}),
    ("mlp", {"hidden": (16, 0)}),
    ("conv", {"latent_dim": 0}),
    ("conv", {"channels": (4, 8)}),
    ("conv", {"channels": (4, 0, 8)}),
    ("conv", {"hidden": 0}),
])
def test_invalid_configs_raise(kind, values):
    cfg_cls = model_kinds()[kind][0]
    with pytest.raises(ConfigError) as exc:
        build_model(kind, cfg_cls(**values))
    assert isinstance(exc.value, LabError) and str(exc.value)
    with pytest.raises(ConfigError):
        build_model(kind, values)  # the dict form is checked the same way


def test_unknown_kind_raises():
    with pytest.raises(ConfigError, match="mlp"):
        build_model("transformer")
    with pytest.raises(ConfigError):
        config_from_dict("transformer", {})


def test_config_from_dict_rejects_unknown_keys():
    with pytest.raises(ConfigError, match="dropout"):
        config_from_dict("mlp", {"latent_dim": 4, "dropout": 0.1})
    with pytest.raises(ConfigError, match="hidden_size"):
        config_from_dict("conv", {"hidden_size": 8})


def test_config_dict_round_trip(small_configs):
    for kind, cfg in small_configs.items():
        as_dict = config_to_dict(cfg)
        assert all(not isinstance(v, tuple) for v in as_dict.values())  # JSON-ready lists
        back = config_from_dict(kind, as_dict)
        assert back == cfg
        assert build_model(kind, as_dict).config == cfg
    assert config_from_dict("mlp", {}) == MLPConfig()
    assert config_from_dict("conv", {"channels": [1, 2, 3]}).channels == (1, 2, 3)
    assert isinstance(build_model("conv", ConvConfig(latent_dim=2, channels=(2, 2, 2), hidden=4)).config,
                      ConvConfig)
