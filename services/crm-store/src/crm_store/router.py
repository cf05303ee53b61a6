"""The one `/api/v1` router every API module registers on (so route templates are whole)."""

from fastapi import APIRouter

router = APIRouter(prefix="/api/v1")
