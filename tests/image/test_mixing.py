"""Mixtures and the fixed, seeded pairings of digits with clothing items."""
from __future__ import annotations

import pytest
import torch

from vae_core.image.mixing import VAL_SIZE, PairSet, load_pairs, mix, pair_permutation, split_indices


def test_mix_formula():
    g = torch.Generator().manual_seed(0)
    d, c = torch.rand((3, 28, 28), generator=g), torch.rand((3, 28, 28), generator=g)
    for w in (0.5, 0.3, 0.8):
        torch.testing.assert_close(mix(d, c, w), w * d + (1 - w) * c)
    torch.testing.assert_close(mix(d, c), (d + c) / 2)
    torch.testing.assert_close(mix(d, c, 1.0), d)


def test_mix_noise_is_clipped_and_seeded():
    d = torch.zeros((4, 28, 28))
    c = torch.ones((4, 28, 28))
    x = mix(d, c, 0.5, noise=2.0, generator=torch.Generator().manual_seed(7))
    assert x.min() >= 0 and x.max() <= 1
    assert (x == 0).any() and (x == 1).any()  # large noise reaches both bounds
    y = mix(d, c, 0.5, noise=2.0, generator=torch.Generator().manual_seed(7))
    assert torch.equal(x, y)
    # Small noise really perturbs the clean mixture.
    z = mix(d, c, 0.5, noise=0.01, generator=torch.Generator().manual_seed(1))
    assert not torch.equal(z, mix(d, c, 0.5))
    assert (z - 0.5).abs().max() < 0.1


def test_pair_permutation_and_split_indices():
    assert torch.equal(pair_permutation(100, 3), pair_permutation(100, 3))
    assert not torch.equal(pair_permutation(100, 3), pair_permutation(100, 4))
    assert sorted(pair_permutation(100, 3).tolist()) == list(range(100))
    tr, va = split_indices(1000, "train", val_size=100), split_indices(1000, "val", val_size=100)
    assert len(tr) == 900 and len(va) == 100
    assert sorted(torch.cat([tr, va]).tolist()) == list(range(1000))


def test_test_pairs_are_deterministic_and_cover_clothes(data_dir):
    a = load_pairs("test", 0)
    b = load_pairs("test", 0)
    assert len(a) == 10000
    assert torch.equal(a.digit_index, b.digit_index) and torch.equal(a.clothing_index, b.clothing_index)
    assert torch.equal(a.clothes, b.clothes)
    assert torch.equal(a.digit_index, torch.arange(10000))
    assert sorted(a.clothing_index.tolist()) == list(range(10000))
    c = load_pairs("test", 1)
    assert not torch.equal(a.clothing_index, c.clothing_index)
    assert torch.equal(a.digit_index, c.digit_index)
    # Rows really are the images at the recorded indices.
    from vae_core.image.data import load_split

    c_img, c_lab = map(torch.from_numpy, load_split("fashion-mnist", "test"))
    assert torch.equal(a.clothes, c_img[a.clothing_index])
    assert torch.equal(a.clothing_labels, c_lab[a.clothing_index])
    assert torch.bincount(a.clothing_labels, minlength=10).tolist() == [1000] * 10


def test_train_and_val_are_disjoint(data_dir):
    tr, va = load_pairs("train", 0), load_pairs("val", 0)
    assert len(tr) == 55000 and len(va) == VAL_SIZE == 5000
    for attr in ("digit_index", "clothing_index"):
        t, v = set(getattr(tr, attr).tolist()), set(getattr(va, attr).tolist())
        assert len(t) == 55000 and len(v) == 5000
        assert not t & v
        assert t | v == set(range(60000))
    assert tr.digits.dtype == torch.uint8 and tr.digits.shape == (55000, 28, 28)
    # Same seed, same pairs.
    assert torch.equal(load_pairs("val", 0).clothing_index, va.clothing_index)


def test_limit_and_sources(data_dir):
    p = load_pairs("test", 0, limit=7)
    assert len(p) == 7 and p.clothes.shape == (7, 28, 28)
    d, c = p.sources(slice(0, 3))
    assert d.dtype == torch.float32 and d.shape == (3, 28, 28)
    assert 0 <= float(c.min()) and float(c.max()) <= 1
    torch.testing.assert_close(d * 255, p.digits[:3].float())


def test_load_pairs_rejects_unknown_split():
    with pytest.raises(ValueError):
        load_pairs("dev")


def _toy_pairs(n=50) -> PairSet:
    ar = torch.arange(n)
    return PairSet(digits=ar.view(n, 1, 1).expand(n, 28, 28).to(torch.uint8).clone(),
                   clothes=(ar + 100).view(n, 1, 1).expand(n, 28, 28).to(torch.uint8).clone(),
                   digit_labels=ar % 10, clothing_labels=(ar * 3) % 10, digit_index=ar, clothing_index=ar + 1000)


def test_repaired_is_seeded_and_keeps_rows_aligned():
    p = _toy_pairs()
    a = p.repaired(torch.Generator().manual_seed(5))
    b = p.repaired(torch.Generator().manual_seed(5))
    for attr in ("digits", "clothes", "digit_labels", "clothing_labels", "digit_index", "clothing_index"):
        assert torch.equal(getattr(a, attr), getattr(b, attr))
    other = p.repaired(torch.Generator().manual_seed(6))
    assert not torch.equal(a.clothing_index, other.clothing_index)
    # Digits stay; clothing rows move together with their labels and indices.
    assert torch.equal(a.digits, p.digits) and torch.equal(a.digit_index, p.digit_index)
    assert not torch.equal(a.clothing_index, p.clothing_index)
    k = a.clothing_index - 1000
    assert torch.equal(a.clothes, p.clothes[k]) and torch.equal(a.clothing_labels, p.clothing_labels[k])
    assert sorted(k.tolist()) == list(range(50))
    assert torch.equal(p.clothing_index, torch.arange(50) + 1000)  # the original is unchanged


def test_repaired_real_pairs(data_dir):
    p = load_pairs("val", 0, limit=500)
    a = p.repaired(torch.Generator().manual_seed(11))
    b = p.repaired(torch.Generator().manual_seed(11))
    assert torch.equal(a.clothing_index, b.clothing_index) and torch.equal(a.clothes, b.clothes)
