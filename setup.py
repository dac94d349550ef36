"""The cffi extension needs setup.py's cffi_modules; everything else is in pyproject.toml."""

from setuptools import setup

setup(cffi_modules=["harness/_build.py:ffi"])
