"""The C accelerator of the marker parser. Optional: where it cannot be compiled, the package
installs without it and parses in Python alone (same answers, slower)."""

from setuptools import Extension, setup

setup(ext_modules=[Extension("exai_git._speedups", ["exai_git/_speedups.c"], optional=True)])
