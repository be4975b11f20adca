"""The music Fréchet table on real clips: every row names its set, clip count and feature rows, and is scored
against the test clips (and the train clips for everything but the floor)."""
from __future__ import annotations

import math

import pytest
import torch

from vae_core.core.models import build_model
from vae_core.music.frechet import format_table, frechet_table, spectrum_matched_noise
from vae_core.music.inference import MusicGenerator


def gen(kind: str, **config) -> MusicGenerator:
    torch.manual_seed(0)
    return MusicGenerator(build_model(kind, config), {"name": kind})


@pytest.mark.slow
def test_course_extractor_table_has_floor_ceiling_noise_and_model_rows():
    encoder = gen("music-course", channels=[4, 8, 8], segment=2048, latent_dim=20)
    models = {"spec": gen("music-spec", hidden=16, latent_channels=2),
              "course": gen("music-course", channels=[4, 8], segment=1024)}
    report = frechet_table(models, extractors=("course",), n_generated=12, seconds=3.0, max_clips=3, encoder=encoder)
    assert set(report["tables"]) == {"course@3000", "course@22050"}
    spec_rows = {r["name"].split(" ")[0]: r for r in report["tables"]["course@22050"]["rows"]}
    assert set(spec_rows) == {"floor", "ceiling", "noise", "spec"}
    course_rows = {r["name"].split(" ")[0] for r in report["tables"]["course@3000"]["rows"]}
    assert course_rows == {"floor", "noise", "course"}  # the waveform model has no separate chain
    for table in report["tables"].values():
        assert table["test_clips"] == 3 and table["test_rows"] == 3 * int(15.05 * 3000 // 2048)
        for row in table["rows"]:
            assert row["fd_test"] >= 0 and math.isfinite(row["fd_test"])
            assert ("fd_train" in row) == (not row["name"].startswith("floor"))
    assert spec_rows["spec"]["clips"] == 12 and spec_rows["noise"]["clips"] == 12
    assert "FD test" in format_table(report)


def test_spectrum_matched_noise_has_the_average_spectrum():
    rate = 8000
    t = torch.arange(rate * 2) / rate
    tone = (0.5 * torch.sin(2 * torch.pi * 1000 * t)).numpy()
    noise = spectrum_matched_noise([tone], rate, seconds=1.0, n=2, seed=0)
    assert len(noise) == 2 and noise[0].shape == (rate,)
    spectrum = torch.fft.rfft(torch.from_numpy(noise[0])).abs()
    peak_hz = int(spectrum.argmax()) * rate / len(noise[0])
    assert abs(peak_hz - 1000) < 50
    assert not (noise[0] == noise[1]).all()
