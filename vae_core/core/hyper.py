"""The ranges of the two settings a running job may change (β and the learning rate), in one place: the run's
config checks them before training, the job runner when a student asks for a change, and the trainer again when
it applies one. Torch-free, since the web server imports the job runner."""
from __future__ import annotations

import math

from vae_core.core.errors import ConfigError


def beta_problem(beta: float) -> str | None:
    """The sentence saying why ``beta`` cannot be a KL weight, or None."""
    if not (math.isfinite(beta) and beta >= 0):
        return f"β (beta) must be a number >= 0, not {beta}."
    return None


def lr_problem(lr: float) -> str | None:
    """The sentence saying why ``lr`` cannot be a learning rate, or None."""
    if not (math.isfinite(lr) and 0 < lr < 1):
        return f"The learning rate (lr) must be a number between 0 and 1, not {lr}."
    return None


def check_change(beta: float | None = None, lr: float | None = None) -> None:
    """Raise :class:`ConfigError` (one sentence) unless the given β and learning rate are in range."""
    for value, problem in ((beta, beta_problem), (lr, lr_problem)):
        if value is not None and (sentence := problem(value)):
            raise ConfigError(sentence)
