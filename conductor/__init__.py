"""conductor: a terminal agent orchestra for autonomous research loops."""

__version__ = "0.1.0"
