"""Interactions: each classified interaction stored once, linked to its contact or company, and
acted on (activities opened, folded into, closed) in the consumer's batches; listed, and shown
on a contact's timeline.

Routes: `/api/v1/interactions`, `/api/v1/contacts/{id}/timeline`; the Kafka edge: `handlers`.
Other packages import from here only.
"""

from crm_store.interactions.handlers import build_router
from crm_store.interactions.repository import InteractionFilter, InteractionRepository
from crm_store.interactions.routes import router
from crm_store.interactions.service import RecordResult, record_interaction, record_interactions

__all__ = [
    "InteractionFilter",
    "InteractionRepository",
    "RecordResult",
    "build_router",
    "record_interaction",
    "record_interactions",
    "router",
]
