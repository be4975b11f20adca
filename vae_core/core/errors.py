"""User-facing errors: each carries one sentence saying what was wrong and what to do."""
from __future__ import annotations

class LabError(Exception):
    """Base class for errors whose message is shown to the user as is (CLI and app)."""


class DataMissingError(LabError):
    """Dataset files are absent and could not be downloaded."""


class DataCorruptError(LabError):
    """A dataset file exists but is truncated, malformed or fails its checksum."""


class DownloadError(LabError):
    """A download failed (offline, refused, wrong checksum)."""


class CheckpointError(LabError):
    """A checkpoint is missing, tampered with, or belongs to another model."""


class ConfigError(LabError):
    """A training or model setting is out of range."""
