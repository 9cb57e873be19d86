"""Hypothesis runs derandomized: the same examples on every run, so CI is reproducible (a property
test that fails, fails every time). Run with HYPOTHESIS_PROFILE=explore to draw new examples."""

from __future__ import annotations

import os

from hypothesis import settings

settings.register_profile("ci", derandomize=True, database=None)
settings.register_profile("explore", derandomize=False)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))
