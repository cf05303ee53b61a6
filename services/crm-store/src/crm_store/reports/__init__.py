"""Reports: per-manager counts and progress against plan targets, and the audit log.

Routes: `/api/v1/reports/managers`, `/api/v1/plan-targets`, `/api/v1/audit`. Other packages
import from here only.
"""

from crm_store.reports import service
from crm_store.reports.repository import ReportRepository
from crm_store.reports.routes import manager_report, router
from crm_store.reports.schemas import ManagerReport, PlanTargetIn

__all__ = [
    "ManagerReport",
    "PlanTargetIn",
    "ReportRepository",
    "manager_report",
    "router",
    "service",
]
