"""GTZAN classical clips: finding them, the split by clip, reading at a rate; cutting segments."""
from __future__ import annotations

import numpy as np
import pytest
import soundfile as sf

from vae_core.core.errors import DataMissingError
from vae_core.core.audio_io import segments
from vae_core.core.gtzan import DERIVED_DIR, NATIVE_RATE, USER_DIR, find_clips, read_clip, split_clips


def test_the_stand_in_is_split_by_clip_80_20_the_same_way_every_time():
    clips = find_clips()
    assert len(clips) == 90 and all(c.path.is_file() and c.md5 for c in clips)
    train, test = split_clips(clips)
    assert (len(train), len(test)) == (72, 18)
    assert not {c.clip_id for c in train} & {c.clip_id for c in test}  # no clip on both sides
    assert [c.clip_id for c in split_clips(list(reversed(clips)))[1]] == [c.clip_id for c in test]
    assert [c.clip_id for c in split_clips(clips, seed=1)[1]] != [c.clip_id for c in test]


def test_a_clip_reads_as_mono_at_the_rate_asked_for():
    clip = find_clips()[0]
    native = read_clip(clip, NATIVE_RATE)
    low = read_clip(clip, 3000)
    assert native.dtype == np.float32 and native.ndim == 1 and abs(len(native) / NATIVE_RATE - 15.05) < 0.01
    assert abs(len(low) - len(native) * 3000 / NATIVE_RATE) <= 1
    assert 0.01 < float(np.std(native)) < 0.5


def test_segments_are_consecutive_and_drop_the_ragged_end():
    wave = np.arange(10, dtype=np.float32)
    np.testing.assert_array_equal(segments(wave, 4), [[0, 1, 2, 3], [4, 5, 6, 7]])
    np.testing.assert_array_equal(segments(wave, 4, hop=3), [[0, 1, 2, 3], [3, 4, 5, 6], [6, 7, 8, 9]])
    assert segments(wave, 11).shape == (0, 11)


def test_a_users_own_gtzan_folder_comes_first(tmp_path):
    (tmp_path / DERIVED_DIR).mkdir()
    own = tmp_path / USER_DIR / "genres_original" / "classical"
    own.mkdir(parents=True)
    for i in range(3):
        sf.write(own / f"classical.0000{i}.wav", np.zeros(22050, dtype=np.float32), 22050)
    assert [c.clip_id for c in find_clips(tmp_path)] == ["classical.00000", "classical.00001", "classical.00002"]


def test_missing_clips_say_where_the_project_looked(tmp_path):
    with pytest.raises(DataMissingError) as err:
        find_clips(tmp_path)
    message = str(err.value)
    assert str(tmp_path / USER_DIR) in message and str(tmp_path / DERIVED_DIR / "manifest.csv") in message
    assert message.count(".") >= 1 and "\n" not in message
