"""xlaug: dictionaries."""
