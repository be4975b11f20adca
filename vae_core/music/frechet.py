"""Fréchet distances between generated and real music, always beside their baselines.

Every distance compares a set of clips with the real **test** clips, after both went through the same band limit:
each is resampled to the model's rate (3 kHz for the course design, 22.05 kHz for the spectrogram model) before
any feature extractor sees it. Rows per rate:

- ``floor``: real training clips (none of them is a test clip): how close two sets of real music come;
- ``ceiling``: the training clips through the model's own analysis/synthesis chain with no latent (log-magnitude
  STFT, then Griffin-Lim; the course design's chain is the waveform itself, so it has none): the best a decoder of
  that format can do;
- ``noise``: noise with the training clips' average magnitude spectrum (random phase): a control that has the
  right spectrum and no music;
- one row per model: clips sampled from its prior, scored against the test clips and against the train clips.

Two extractors: ``course`` (the encoder of one fixed course-design VAE with latent 20, shipped as
``music-fd-encoder``, the course report's method: posterior means of 8192-sample segments at 3 kHz) and
``cdpam`` (the published CDPAM acoustic embedding, 1-second frames at 22.05 kHz; :mod:`vae_core.core.cdpam_features`).
Each row reports the clips and the feature rows (segments or frames) it used; ``fd`` is the plain Fréchet distance,
``fd_inf`` the FAD∞ extrapolation in the number of generated rows (Chong & Forsyth 2020).
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch

from vae_core.core.audio_io import resample
from vae_core.core.cdpam_features import cdpam_embeddings
from vae_core.core.errors import LabError
from vae_core.core.frechet import fad_infinity, frechet_from_features
from vae_core.core.inference import load_checkpoint
from vae_core.core.jobs import CommandState, command_state, start_command
from vae_core.core.spectral import STFTConfig, istft, stft
from vae_core.core.audio_io import segments
from vae_core.core.gtzan import find_clips, read_clip, split_clips
from vae_core.music.inference import MusicGenerator
from vae_core.music.model import MusicSpecConfig
from vae_core.music.transforms import log_magnitude, to_wave

FD_ENCODER = "music-fd-encoder"  # the shipped course-design VAE (latent 20) whose encoder is the "course" extractor
EXTRACTORS = ("course", "cdpam")


@dataclass
class ClipSet:
    """Clips ``waves`` (mono float32) at ``rate`` Hz, and what they are."""

    name: str
    waves: list[np.ndarray]
    rate: int


def course_features(encoder: MusicGenerator, clips: ClipSet) -> np.ndarray:
    """Posterior means ``(segments, 20)`` of the fixed course encoder for every whole segment of every clip (the
    clips resampled to its 3 kHz first)."""
    seg = encoder.config.segment
    cut = [segments(resample(w, clips.rate, encoder.rate), seg) for w in clips.waves]
    x = torch.from_numpy(np.concatenate(cut))
    if not len(x):
        raise ValueError(f"{clips.name}: no clip holds one {seg / encoder.rate:.2f} s segment")
    with torch.no_grad():
        return np.concatenate([encoder.model.encode(x[s:s + 64])[0][:, 0].numpy() for s in range(0, len(x), 64)])


def extractor(name: str, encoder: MusicGenerator | None = None) -> Callable[[ClipSet], np.ndarray]:
    if name == "course":
        encoder = encoder or load_checkpoint(FD_ENCODER)
        return lambda clips: course_features(encoder, clips)
    return lambda clips: cdpam_embeddings(clips.waves, clips.rate)


def band_limited(waves: list[np.ndarray], rate_from: int, rate: int) -> list[np.ndarray]:
    return [resample(w, rate_from, rate) for w in waves]


def chain_only(waves: list[np.ndarray], cfg: MusicSpecConfig) -> list[np.ndarray]:
    """The spectrogram model's analysis/synthesis chain with no latent: log-magnitude, then Griffin-Lim."""
    return [to_wave(log_magnitude(torch.from_numpy(w), cfg), cfg, length=len(w)).numpy() for w in waves]


def spectrum_matched_noise(waves: list[np.ndarray], rate: int, seconds: float, n: int, seed: int = 0) -> list[np.ndarray]:
    """``n`` clips of noise whose magnitude spectrum is the average of ``waves``' (n_fft 1024), random phases."""
    cfg = STFTConfig(n_fft=1024, hop=256, sample_rate=rate)
    mean_mag = torch.stack([stft(torch.from_numpy(w), cfg).abs().mean(-1) for w in waves]).mean(0)
    g = torch.Generator().manual_seed(seed)
    length = int(seconds * rate)
    frames = length // cfg.hop + 1
    out = []
    for _ in range(n):
        phase = torch.rand((len(mean_mag), frames), generator=g) * 2 * torch.pi
        out.append(istft(torch.polar(mean_mag[:, None].expand(-1, frames).contiguous(), phase), length, cfg).numpy())
    return out


def _row(name: str, clips: ClipSet, feats: np.ndarray, test: np.ndarray, train: np.ndarray | None) -> dict[str, Any]:
    row: dict[str, Any] = {"name": name, "clips": len(clips.waves), "rows": int(len(feats)),
                           "fd_test": frechet_from_features(feats, test)}
    if train is not None:
        row["fd_train"] = frechet_from_features(feats, train)
    if len(feats) >= 10:
        row["fd_inf_test"] = float(fad_infinity(test, feats)["fad_inf"])
    return row


FITTED = " (fitted prior)"  # the row name of a model's samples from its fitted prior


def with_priors(generators: dict[str, MusicGenerator], prior: str) -> tuple[dict[str, MusicGenerator], dict[str, str]]:
    """The generators a table scores and the prior each row samples: ``standard`` or ``fitted`` for every model, or
    ``both`` (every model's standard prior, and its fitted prior as a second row named ``NAME (fitted prior)`` when
    it has one)."""
    if prior not in ("standard", "fitted", "both"):
        raise LabError(f"The prior must be standard, fitted or both, not {prior!r}.")
    if prior != "both":
        return dict(generators), {name: prior for name in generators}
    rows, priors = {}, {}
    for name, gen in generators.items():
        rows[name], priors[name] = gen, "standard"
        if gen.fitted_prior is not None:
            rows[name + FITTED], priors[name + FITTED] = gen, "fitted"
    return rows, priors


def sidecar_rows(report: dict[str, Any], generators: dict[str, MusicGenerator], prior: str,
                 command: str) -> dict[str, dict[str, Any]]:
    """Each model's Fréchet numbers as its sidecar keeps them for the Music page: ``{extractor}_test``, ``_train``
    and ``_test_inf`` (FD∞; each with ``_fitted`` for fitted-prior rows), the rows used, and the floor, ceiling and
    noise rows of its rate (``{extractor}_floor`` …), so a page can show the baselines beside any model."""
    out: dict[str, dict[str, Any]] = {}
    for name, gen in generators.items():
        row: dict[str, Any] = {"command": command}
        for t in report["tables"].values():
            if t["rate"] != gen.rate:
                continue
            ex = t["extractor"]
            for r in t["rows"]:
                base = r["name"].split(" ")[0]
                if base in ("floor", "ceiling", "noise"):
                    row[f"{ex}_{base}"] = round(r["fd_test"], 3)
                elif r["name"] in (name, name + FITTED):
                    suffix = "_fitted" if r["name"] == name + FITTED or prior == "fitted" else ""
                    row[f"{ex}_test{suffix}"] = round(r["fd_test"], 3)
                    row[f"{ex}_train{suffix}"] = round(r["fd_train"], 3)
                    if "fd_inf_test" in r:
                        row[f"{ex}_test_inf{suffix}"] = round(r["fd_inf_test"], 3)
                    row[f"{ex}_rows"] = r["rows"]
            row[f"{ex}_test_clips"], row[f"{ex}_generated"] = t["test_clips"], report["n_generated"]
        out[name] = row
    return out


SCORING = "fd-table"  # the command name of a run's background scoring


def start_scoring(folder: Path, extractors: tuple[str, ...] = EXTRACTORS) -> CommandState:
    """Score a trained run's prior samples (both priors where it has a fitted one) in a process of its own, as
    ``python -m vae_core fd-table --store`` does; its rows and its rate's baselines land in the run's sidecar."""
    if not extractors or not set(extractors) <= set(EXTRACTORS):
        raise LabError(f"Choose extractors among {', '.join(EXTRACTORS)}, not {extractors!r}.")
    return start_command(folder, SCORING, ["fd-table", "--checkpoints", str(folder), "--extractors",
                                           ",".join(extractors), "--prior", "both", "--store"])


def scoring_state(folder: Path) -> CommandState | None:
    """How the background scoring of run ``folder`` stands (None if it never ran)."""
    return command_state(folder, SCORING)


def frechet_table(generators: dict[str, MusicGenerator], data_root: Path | None = None,
                  extractors: tuple[str, ...] = EXTRACTORS, n_generated: int = 54, seconds: float = 5.0,
                  max_clips: int | None = None, seed: int = 0, encoder: MusicGenerator | None = None,
                  priors: dict[str, str] | None = None, say: Callable[[str], None] = lambda s: None) -> dict[str, Any]:
    """Fréchet distances of each generator's prior samples (``n_generated`` clips of ``seconds``) to the real test
    clips, per extractor and per model rate, with the floor, ceiling and noise rows of that rate. ``max_clips``
    limits the real clips of each split (the training clips are the first of the split, by id); ``encoder`` replaces
    the shipped ``music-fd-encoder`` of the course extractor; ``priors`` names the prior each generator samples
    (``standard`` unless given, see :meth:`MusicGenerator.generate`)."""
    train_clips, test_clips = split_clips(find_clips(data_root))
    test_clips, train_clips = test_clips[:max_clips], train_clips[:max_clips or len(test_clips)]
    rates = sorted({g.rate for g in generators.values()})
    report: dict[str, Any] = {"seconds": seconds, "n_generated": n_generated, "seed": seed, "tables": {}}
    native = 22050
    test_native = [read_clip(c, native) for c in test_clips]
    train_native = [read_clip(c, native) for c in train_clips]
    for ex in extractors:
        features = extractor(ex, encoder)
        for rate in rates:
            say(f"{ex} features at {rate} Hz …")
            test = ClipSet("test", band_limited(test_native, native, rate), rate)
            train = ClipSet("train", band_limited(train_native, native, rate), rate)
            f_test, f_train = features(test), features(train)
            rows = [_row("floor (real train vs test)", train, f_train, f_test, None)]
            specs = [g for g in generators.values() if g.rate == rate and g.spec]
            if specs:
                chain = ClipSet("ceiling", chain_only(train.waves, specs[0].config), rate)
                rows.append(_row("ceiling (train through the chain, no latent)", chain, features(chain), f_test,
                                 f_train))
            noise = ClipSet("noise", spectrum_matched_noise(train.waves, rate, seconds, n_generated, seed), rate)
            rows.append(_row("noise (train spectrum, random phase)", noise, features(noise), f_test, f_train))
            for name, gen in generators.items():
                if gen.rate != rate:
                    continue
                say(f"  {name}: {n_generated} clips of {seconds:g} s …")
                prior = (priors or {}).get(name, "standard")
                fake = ClipSet(name, list(gen.generate(n_generated, seconds, seed=seed, prior=prior)), rate)
                rows.append(_row(name, fake, features(fake), f_test, f_train))
            report["tables"][f"{ex}@{rate}"] = {"extractor": ex, "rate": rate, "test_clips": len(test.waves),
                                                "test_rows": int(len(f_test)), "train_clips": len(train.waves),
                                                "train_rows": int(len(f_train)), "rows": rows}
    return report


def format_table(report: dict[str, Any]) -> str:
    lines = []
    for key, t in report["tables"].items():
        lines.append(f"{t['extractor']} features, everything at {t['rate']} Hz; reference: {t['test_clips']} test "
                     f"clips ({t['test_rows']} rows), {t['train_clips']} train clips ({t['train_rows']} rows)")
        lines.append(f"  {'set':46} {'clips':>5} {'rows':>5} {'FD test':>9} {'FD train':>9} {'FD∞ test':>9}")
        for r in t["rows"]:
            train = f"{r['fd_train']:9.3f}" if "fd_train" in r else f"{'—':>9}"
            inf = f"{r['fd_inf_test']:9.3f}" if "fd_inf_test" in r else f"{'—':>9}"
            lines.append(f"  {r['name']:46} {r['clips']:5d} {r['rows']:5d} {r['fd_test']:9.3f} {train} {inf}")
    return "\n".join(lines)
