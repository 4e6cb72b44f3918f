"""Build hook for the optional native proof-of-work core (filled in by Step 1)."""

from setuptools import setup

setup()
