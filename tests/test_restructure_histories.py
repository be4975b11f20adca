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

BEFORE = json.loads((Path(__file__).parent / "fixtures" / "histories_before_restructure.json").read_text())


@pytest.mark.parametrize("task, config_class", [("image", TrainConfig), ("audio", AudioTrainConfig)])
def test_histories_equal_the_ones_before_the_restructure(task, config_class):
    recorded = BEFORE[task]
    history = train(config_class(**recorded["config"])).history
    history.pop("seconds")
    assert history == recorded["history"]
