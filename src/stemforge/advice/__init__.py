"""Advice: measurements plus targets (platform, genre, reference) become findings with fixes."""
