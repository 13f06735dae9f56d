"""Composed pipelines and the ``xlaug`` command line.

Modules here import Beam and models lazily, inside functions, so that
``xlaug --help`` stays fast.
"""
