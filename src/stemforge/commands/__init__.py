"""Command-line commands that live apart from ``stemforge.cli`` (each module has a
``register(app)``). They import their layers only when run, so ``stemforge --help`` stays
fast."""
