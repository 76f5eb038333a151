# All metadata lives in setup.cfg; this shim lets older tools run `python setup.py ...`.
from setuptools import setup

setup()
