"""crm-store: links interactions to clients, keeps activities, publishes what happened."""

__version__ = "0.1.0"
