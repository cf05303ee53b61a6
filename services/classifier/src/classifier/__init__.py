"""classifier: tags calls and mail that need no person, so nobody writes a report for them."""

__version__ = "0.1.0"
