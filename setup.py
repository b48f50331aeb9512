"""The C accelerator of the marker parser. Optional: where it cannot be compiled (no C
compiler or Python headers), or on a Python other than CPython, the package installs without
it and parses in Python alone (same answers, slower)."""

import platform

from setuptools import Extension, setup

speedups = Extension("exai_git._speedups", ["exai_git/_speedups.c"], optional=True)
setup(ext_modules=[speedups] if platform.python_implementation() == "CPython" else [])
