"""Proof that the shared trainer changed no number: one short image run and one short audio run with fixed seeds
give the same per-epoch histories as the two task-specific training loops did before the restructure
(``fixtures/histories_before_restructure.json``, written by ``fixtures/record_histories.py`` on the old code)."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from vae_core.audio.task import AudioTrainConfig
from vae_core.core.trainer import train
from vae_core.image.task import TrainConfig

BEFORE = json.loads((Path(__file__).parents[1] / "fixtures" / "histories_before_restructure.json").read_text())


@pytest.mark.parametrize("task, config_class", [("image", TrainConfig), ("audio", AudioTrainConfig)])
def test_histories_equal_the_ones_before_the_restructure(task, config_class):
    recorded = BEFORE[task]
    history = train(config_class(**recorded["config"])).history
    history.pop("seconds")
    before = recorded["history"]
    assert set(history) == set(before)
    # Every loss term, β and epoch count is bit-for-bit the same. The dev-clip NSDR goes through BSS Eval, whose
    # final filtering moved from scipy's fftconvolve to numpy FFTs after the fixture was made: equal to 1e-12 dB.
    nsdr = [k for k in before if k.startswith("val_nsdr")]
    for key in set(before) - set(nsdr):
        assert history[key] == before[key], key
    for key in nsdr:
        assert history[key] == pytest.approx(before[key], rel=0, abs=1e-12), key
