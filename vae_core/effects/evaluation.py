"""How well an embedding tells effects apart, beside the baselines that say whether the VAE earned it.

On held-out files (no file seen in training): each file's segment through every effect (balanced classes, the same
dry audio in every class). The probe and kNN are fitted on embeddings of fresh training-file examples and scored on
the held-out ones; the silhouette is that of the held-out embeddings by effect (cosine). Three embeddings at the
same dimension: the VAE's **latent means** (never sampled z), **PCA** of the raw normalised log-mel (fitted on the
training examples), and the **same encoder at random initialisation**. Active units: Burda et al. (2016).
Features are standardised (training mean and spread) before the probe and kNN, so no embedding wins by its scale.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch
from sklearn.decomposition import PCA
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import balanced_accuracy_score, silhouette_score
from sklearn.neighbors import KNeighborsClassifier

from vae_core.core.latents import active_units
from vae_core.core.models import build_model
from vae_core.effects.data import dry_sources, grid_examples, make_examples
from vae_core.effects.transforms import target

FIT_PER_EFFECT = 400  # training-file examples per effect the probe, kNN and PCA are fitted on
TEST_SEED, FIT_SEED = 2, 3


@torch.no_grad()
def encode_means(model: torch.nn.Module, x: torch.Tensor, device: torch.device | None = None,
                 batch: int = 128) -> torch.Tensor:
    """The embeddings: posterior means of the global latent ``(n, embedding_dim)`` of log-mel segments ``x``
    ``(n, mels, frames)``."""
    model.eval()
    device = device or next(model.parameters()).device
    dim = model.embedding_dim
    return torch.cat([model.encode(x[s:s + batch].to(device))[0][:, 0, :dim].cpu() for s in range(0, len(x), batch)])


def _standardise(fit: np.ndarray, test: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    mean, std = fit.mean(0), fit.std(0) + 1e-8
    return (fit - mean) / std, (test - mean) / std


def probe_accuracy(fit_x: np.ndarray, fit_y: np.ndarray, test_x: np.ndarray, test_y: np.ndarray) -> float:
    """Balanced accuracy of a multinomial logistic-regression probe (L2, C = 1)."""
    a, b = _standardise(fit_x, test_x)
    clf = LogisticRegression(max_iter=3000, C=1.0).fit(a, fit_y)
    return float(balanced_accuracy_score(test_y, clf.predict(b)))


def knn_accuracy(fit_x: np.ndarray, fit_y: np.ndarray, test_x: np.ndarray, test_y: np.ndarray, k: int = 5) -> float:
    """Balanced accuracy of kNN-``k`` (Euclidean, standardised features)."""
    a, b = _standardise(fit_x, test_x)
    return float(balanced_accuracy_score(test_y, KNeighborsClassifier(k).fit(a, fit_y).predict(b)))


def knn_loo_accuracy(x: np.ndarray, y: np.ndarray, k: int = 5) -> float:
    """Leave-one-out kNN-``k`` balanced accuracy within one set (the training run's validation figure)."""
    a, _ = _standardise(x, x)
    d = ((a[:, None, :] - a[None, :, :]) ** 2).sum(-1)
    np.fill_diagonal(d, np.inf)
    nearest = np.argsort(d, axis=1)[:, :k]
    votes = np.array([np.bincount(y[row], minlength=y.max() + 1).argmax() for row in nearest])
    return float(balanced_accuracy_score(y, votes))


def silhouette(x: np.ndarray, y: np.ndarray) -> float:
    """Mean cosine silhouette of ``x`` by label (−1 … 1; higher: tighter, better separated classes)."""
    return float(silhouette_score(x, y, metric="cosine"))


def embedding_scores(fit_x: np.ndarray, fit_y: np.ndarray, test_x: np.ndarray, test_y: np.ndarray) -> dict[str, float]:
    return {"probe_acc": probe_accuracy(fit_x, fit_y, test_x, test_y),
            "knn_acc": knn_accuracy(fit_x, fit_y, test_x, test_y), "silhouette": silhouette(test_x, test_y)}


def evaluate_embedder(emb: Any, data_root: Path | None = None, limit: int | None = None) -> dict[str, Any]:
    """The scores of a loaded effects checkpoint (``EffectsEmbedder``) on the held-out files (the first ``limit``
    of them), beside PCA and the random encoder; the numbers ``bench effects`` prints."""
    effects = emb.effects
    # Each set's audio is dropped once it is a spectrogram: thousands of 2-s segments are a GB.
    test = grid_examples(dry_sources(data_root, "test", emb.kinds), effects, TEST_SEED, limit)
    test_x, test_y = emb.example_features(test), np.array([effects.index(e.effect) for e in test])
    n_test, test_files = len(test), len({e.file_id for e in test})
    del test
    # With a limit (quick checks) still enough examples for a PCA of the embedding's dimension.
    n_fit = FIT_PER_EFFECT * len(effects) if limit is None else max(n_test, 10 * len(effects), 2 * emb.embedding_dim)
    fit = make_examples(dry_sources(data_root, "train", emb.kinds), effects, n_fit, FIT_SEED)
    fit_x, fit_y = emb.example_features(fit), np.array([effects.index(e.effect) for e in fit])
    del fit
    mu_test, mu_fit = encode_means(emb.model, test_x), encode_means(emb.model, fit_x)
    dim = mu_test.shape[1]
    baselines = {"pca": lambda x: target(x)}  # the baseline: PCA of the processed segment's log-mel
    if test_x.ndim == 4:  # a conditional model also sees the dry segment: so does a fair second baseline
        baselines["pca_diff"] = lambda x: x[:, 0] - x[:, 1]
    scores = {"": embedding_scores(mu_fit.numpy(), fit_y, mu_test.numpy(), test_y)}
    for name, view in baselines.items():
        pca = PCA(n_components=dim, random_state=0).fit(view(fit_x).flatten(1).numpy())
        scores[name + "_"] = embedding_scores(pca.transform(view(fit_x).flatten(1).numpy()), fit_y,
                                              pca.transform(view(test_x).flatten(1).numpy()), test_y)
    torch.manual_seed(emb.meta.get("train_config", {}).get("seed", 0))
    random_model = build_model(emb.model.kind, emb.model.config).eval()
    scores["random_"] = embedding_scores(encode_means(random_model, fit_x).numpy(), fit_y,
                                         encode_means(random_model, test_x).numpy(), test_y)
    with torch.no_grad():
        recon = emb.model(test_x).sources[:, 0]
    return {
        "n_effects": len(effects), "effects": list(effects), "kinds": list(emb.kinds),
        "test_files": test_files, "test_examples": n_test, "fit_examples": n_fit,
        "latent_dim": dim, "active_units": int(active_units(mu_test).sum()), "model": emb.model.kind,
        **{prefix + k: v for prefix, row in scores.items() for k, v in row.items()},
        "recon_rmse_db": float((recon - target(test_x)).pow(2).mean().sqrt()) * 80.0,
    }


def format_metrics(m: dict[str, Any]) -> str:
    rows = [("VAE latent means", ""), ("PCA of the log-mel", "pca_"), ("PCA of processed − dry", "pca_diff_"),
            ("random encoder", "random_")]
    lines = [f"{m['n_effects']} effects, {m['test_examples']} held-out examples from {m['test_files']} files "
             f"(fitted on {m['fit_examples']} training-file examples); latent {m['latent_dim']}, "
             f"{m['active_units']} active units; reconstruction RMSE {m['recon_rmse_db']:.1f} dB",
             f"  {'embedding':22} {'probe':>7} {'kNN-5':>7} {'silhouette':>10}"]
    for label, p in rows:
        if p + "probe_acc" not in m:
            continue
        lines.append(f"  {label:22} {m[p + 'probe_acc']:7.1%} {m[p + 'knn_acc']:7.1%} {m[p + 'silhouette']:10.3f}")
    return "\n".join(lines)
