"""The music Fréchet table on real clips: every row names its set, clip count and feature rows, and is scored
against the test clips (and the train clips for everything but the floor)."""
from __future__ import annotations

import math

import pytest
import torch

from vae_core.core.errors import LabError
from vae_core.core.inference import load_checkpoint
from vae_core.core.models import build_model
from vae_core.music.frechet import (FITTED, format_table, frechet_table, sidecar_rows, spectrum_matched_noise,
                                    with_priors)
from vae_core.music.inference import MusicGenerator


def gen(kind: str, **config) -> MusicGenerator:
    torch.manual_seed(0)
    return MusicGenerator(build_model(kind, config), {"name": kind})


@pytest.mark.slow
def test_both_priors_give_two_rows_and_the_sidecar_rows_carry_the_baselines():
    """fd-table --prior both: a model with a fitted prior gets a second row; --store keeps each model's numbers
    and its rate's floor, ceiling and noise rows."""
    encoder = gen("music-course", channels=[4, 8, 8], segment=2048, latent_dim=20)
    spec = load_checkpoint("music-spec")  # shipped with a fitted prior
    course = gen("music-course", channels=[4, 8], segment=1024)  # none
    rows, priors = with_priors({"spec": spec, "course": course}, "both")
    assert list(rows) == ["spec", "spec" + FITTED, "course"]
    assert priors == {"spec": "standard", "spec" + FITTED: "fitted", "course": "standard"}
    report = frechet_table(rows, extractors=("course",), n_generated=10, seconds=3.0, max_clips=2, encoder=encoder,
                           priors=priors)
    stored = sidecar_rows(report, {"spec": spec, "course": course}, "both", "python -m vae_core fd-table ...")
    table = {r["name"]: r for r in report["tables"]["course@22050"]["rows"]}
    mine = stored["spec"]
    assert mine["course_test"] == round(table["spec"]["fd_test"], 3)
    assert mine["course_test_fitted"] == round(table["spec" + FITTED]["fd_test"], 3)
    assert mine["course_floor"] == round(table["floor (real train vs test)"]["fd_test"], 3)
    assert "course_ceiling" in mine and "course_noise" in mine and mine["course_test_clips"] == 2
    assert "course_ceiling" not in stored["course"] and "course_test_fitted" not in stored["course"]
    with pytest.raises(LabError, match="standard, fitted or both"):
        with_priors(rows, "mixed")


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
