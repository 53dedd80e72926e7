"""Helpers for testing mmzoo components, for mmzoo itself and for plugin authors."""

from mmzoo.testing import contracts
from mmzoo.testing.contracts import *  # noqa: F403 - the contract kit is this package's API

__all__ = contracts.__all__
