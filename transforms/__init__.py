"""Stages of xlaug: each module is a pure-Python core plus its Beam wrapper."""
