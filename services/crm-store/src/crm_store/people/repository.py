"""The SQL of managers (tokens and page sessions: `core.access`)."""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import select

from crm_store.core import Manager, Store


class PeopleRepository(Store):
    async def add_manager(self, manager: Manager) -> bool:
        """False when the e-mail address is taken."""
        return await self._add_unless_conflict(manager)

    async def get_manager(self, manager_id: str) -> Manager | None:
        return await self.session.get(Manager, manager_id)

    async def list_managers(self, *, active_only: bool = False) -> list[Manager]:
        statement = select(Manager).order_by(Manager.name, Manager.id)
        if active_only:
            statement = statement.where(Manager.active.is_(True))
        return list((await self.session.execute(statement)).scalars())

    async def find_manager_by_email(self, email: str) -> Manager | None:
        statement = select(Manager).where(Manager.email == email.strip().lower())
        return (await self.session.execute(statement)).scalar_one_or_none()

    async def find_managers_by_extensions(self, extensions: Iterable[str]) -> list[Manager]:
        # JSON containment differs between SQLite and PostgreSQL; the team is small, so the
        # filter runs here rather than in SQL.
        wanted = set(extensions)
        return [m for m in await self.list_managers(active_only=True) if wanted & set(m.extensions)]

    async def find_manager_by_extension(self, extension: str) -> Manager | None:
        found = await self.find_managers_by_extensions([extension])
        return found[0] if found else None
