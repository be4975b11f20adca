"""Registers the toy task of test_registry when imported: what a task kept outside ``vae_core.tasks`` names as its
``plugin``, so that training workers (other processes) know it."""
from core.test_registry import TOY
from vae_core.core import registry

registry.register(TOY)
