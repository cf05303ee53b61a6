"""Contracts and small cross-cutting helpers shared by every Switchboard service."""

__version__ = "0.1.0"
