"""The directory: contacts, companies, their numbers, addresses and e-mail domains, duplicates
caught on save, merges, archiving instead of deleting, and what a change re-links. `linking`
holds its pure rules (normalised points, registrable domains, name keys, how a counterpart
links to a contact or a company).

Routes: `/api/v1/contacts`, `/api/v1/companies`, `/api/v1/contact-points/export`. Other packages
import from here only.
"""

from crm_store.directory import fields, linking
from crm_store.directory.delivery import undeliverable_of
from crm_store.directory.field_routes import router as fields_router
from crm_store.directory.linking import Link, LinkKind
from crm_store.directory.points import PointInput
from crm_store.directory.records import Changes, contact_name
from crm_store.directory.relinking import delivery_changed, owners_of, snapshot_contact_points
from crm_store.directory.repository import DirectoryRepository
from crm_store.directory.routes import contact_view, router
from crm_store.directory.schemas import ContactFieldIn, ContactFieldPatch, ContactOut
from crm_store.directory.service import (
    CompanyInput,
    ContactInput,
    create_company,
    create_contact,
    update_contact,
)
from crm_store.directory.validation import normalised_emails, normalised_phones

__all__ = [
    "Changes",
    "CompanyInput",
    "ContactFieldIn",
    "ContactFieldPatch",
    "ContactInput",
    "ContactOut",
    "DirectoryRepository",
    "Link",
    "LinkKind",
    "PointInput",
    "contact_name",
    "contact_view",
    "create_company",
    "create_contact",
    "delivery_changed",
    "fields",
    "fields_router",
    "linking",
    "normalised_emails",
    "normalised_phones",
    "owners_of",
    "router",
    "snapshot_contact_points",
    "undeliverable_of",
    "update_contact",
]
