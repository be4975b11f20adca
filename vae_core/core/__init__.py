"""The task-free core: trainer, checkpoints, jobs, registry, metrics, audio front end, CLI."""
__version__ = "0.1.0"
