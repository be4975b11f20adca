"""The registry entries: one per task. Adding a task means adding its package and one entry here."""
from __future__ import annotations

from vae_core.audio import cli as audio_cli
from vae_core.audio.bench import latent_move as audio_latent_move
from vae_core.audio.inference import AudioSeparator
from vae_core.audio.model import AUDIO_SOURCES, MODEL_KINDS as AUDIO_MODEL_KINDS
from vae_core.audio.task import AudioTask, AudioTrainConfig
from vae_core.core.registry import TaskSpec, register
from vae_core.effects import cli as effects_cli
from vae_core.effects.bench import latent_move as effects_latent_move
from vae_core.effects.evaluation import format_metrics as format_effects_metrics
from vae_core.effects.inference import EffectsEmbedder
from vae_core.effects.model import EFFECTS_SOURCES, MODEL_KINDS as EFFECTS_MODEL_KINDS
from vae_core.effects.task import EffectsTask, EffectsTrainConfig
from vae_core.image import cli as image_cli
from vae_core.image.bench import latent_move as image_latent_move
from vae_core.image.evaluation import format_metrics as format_image_metrics
from vae_core.image.inference import ImageSeparator
from vae_core.image.model import MODEL_KINDS as IMAGE_MODEL_KINDS, SOURCES as IMAGE_SOURCES
from vae_core.image.task import ImageTask, TrainConfig
from vae_core.music import cli as music_cli
from vae_core.music.bench import latent_move as music_latent_move
from vae_core.music.evaluation import format_metrics as format_music_metrics
from vae_core.music.inference import MusicGenerator
from vae_core.music.model import MODEL_KINDS as MUSIC_MODEL_KINDS, MUSIC_SOURCES
from vae_core.music.task import MusicTask, MusicTrainConfig

IMAGE = register(TaskSpec(
    name="image", title="Image separation", sources=IMAGE_SOURCES, config_class=TrainConfig,
    model_kinds=IMAGE_MODEL_KINDS, make_task=ImageTask, inference=ImageSeparator, evaluate=image_cli.evaluate,
    format_metrics=lambda sep, m: f"{sep.name}\n" + format_image_metrics(m),
    eval_options=("weight", "noise", "pair_seed"), add_cli=image_cli.add_cli, data=image_cli.data,
    summary=image_cli.summary, default_run_name=image_cli.default_run_name, page_widgets="lab_ui.image", default_checkpoint="image-conv",
    prior_checkpoint="image-mlp-z2",  # a 2-D latent per source: the latent plane, and prior samples that look right
    job_eval_limit=("VAE_JOB_EVAL_LIMIT", 0),  # the app scores on all 10,000 test mixtures, like the CLI
    benches={**image_cli.BENCHES, "latent_move": image_latent_move},
))

AUDIO = register(TaskSpec(
    name="audio", title="Audio separation", sources=AUDIO_SOURCES, config_class=AudioTrainConfig,
    model_kinds=AUDIO_MODEL_KINDS, make_task=AudioTask, inference=AudioSeparator, evaluate=audio_cli.evaluate,
    format_metrics=audio_cli.format_metrics, add_cli=audio_cli.add_cli, data=audio_cli.data,
    summary=audio_cli.summary, default_run_name=audio_cli.default_run_name, page_widgets="lab_ui.audio", default_checkpoint="audio-conv",
    job_eval_limit=("VAE_JOB_AUDIO_EVAL_CLIPS", 20),  # all 178 clips take minutes on a laptop
    benches={**audio_cli.BENCHES, "latent_move": audio_latent_move},
))

MUSIC = register(TaskSpec(
    name="music", title="Music generation", sources=MUSIC_SOURCES, config_class=MusicTrainConfig,
    model_kinds=MUSIC_MODEL_KINDS, make_task=MusicTask, inference=MusicGenerator, evaluate=music_cli.evaluate,
    format_metrics=lambda gen, m: f"{gen.name}\n" + format_music_metrics(m), add_cli=music_cli.add_cli,
    data=music_cli.data, summary=music_cli.summary, default_run_name=music_cli.default_run_name,
    page_widgets="lab_ui.music", default_checkpoint="music-spec", benches={**music_cli.BENCHES, "latent_move": music_latent_move},
))

EFFECTS = register(TaskSpec(
    name="effects", title="Effects map", sources=EFFECTS_SOURCES, config_class=EffectsTrainConfig,
    model_kinds=EFFECTS_MODEL_KINDS, make_task=EffectsTask, inference=EffectsEmbedder, evaluate=effects_cli.evaluate,
    format_metrics=lambda emb, m: f"{emb.name}\n" + format_effects_metrics(m), add_cli=effects_cli.add_cli,
    data=effects_cli.data, summary=effects_cli.summary, default_run_name=effects_cli.default_run_name,
    page_widgets="lab_ui.effects", default_checkpoint="effects-cvae",
    job_eval_limit=("VAE_JOB_EFFECTS_EVAL_FILES", 60),  # all 374 held-out files take a minute or two
    benches={**effects_cli.BENCHES, "latent_move": effects_latent_move},
))
