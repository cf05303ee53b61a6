"""Who may get in: API tokens and the page's server-side sessions, stored and checked.

A token is `sbt_` + 32 random bytes; only its SHA-256 is stored. It works until it is revoked
(`DELETE /api/v1/tokens/{id}`), until its optional `expires_at`, or until its manager is
deactivated, whichever comes first. Its last use is written at most once a minute, so a busy
token costs one UPDATE a minute, not one per request.

A page session is a random secret in the browser's cookie; the row keeps its SHA-256, the token
it was opened with (or, signed in with a password or single sign-on, its manager) and its own
expiry. It is checked with its token or manager on every request, so ending the token,
deactivating the manager or resetting their password ends the session; signing out deletes it.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal

from sqlalchemy import delete, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from crm_store.core.models import ApiToken, Manager, PageSession
from crm_store.core.roles import Principal, Role

LAST_USED_EVERY = timedelta(minutes=1)
TokenState = Literal["active", "expired", "revoked"]
TOKEN_PREFIX = "sbt_"


def sha256(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


class Denied(Exception):
    """The credential does not let anyone in; the message says why (safe to show its holder)."""


@dataclass(frozen=True)
class TokenView:
    token: ApiToken
    manager: Manager | None

    def state(self, now: datetime) -> TokenState:
        if self.token.revoked_at is not None:
            return "revoked"
        if self.token.expires_at is not None and self.token.expires_at <= now:
            return "expired"
        return "active"


def check(found: TokenView | None, now: datetime) -> Principal:
    """The principal of a live token, or `Denied` saying why it is not."""
    if found is None:
        raise Denied("unknown or revoked token")
    state = found.state(now)
    if state == "revoked":
        raise Denied("unknown or revoked token")
    if state == "expired":
        raise Denied("the token has expired")
    if found.manager is not None and not found.manager.active:
        raise Denied("the token's manager is deactivated")
    row = found.token
    return Principal(Role(row.role), row.manager_id, row.id)


def is_bootstrap(secret: str, bootstrap: str | None) -> bool:
    return bool(bootstrap) and hmac.compare_digest(secret.encode(), (bootstrap or "").encode())


class AccessRepository:
    """The SQL of tokens and page sessions."""

    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    # -- tokens --------------------------------------------------------------------------------

    async def create_token(
        self, *, role: str, manager_id: str | None, now: datetime, expires_at: datetime | None
    ) -> tuple[ApiToken, str]:
        """The row and the plaintext token (shown once)."""
        plaintext = TOKEN_PREFIX + secrets.token_urlsafe(32)
        token = ApiToken(
            id=str(uuid.uuid4()),
            manager_id=manager_id,
            role=role,
            token_sha256=sha256(plaintext),
            created_at=now,
            expires_at=expires_at,
        )
        self.session.add(token)
        await self.session.flush()
        return token, plaintext

    async def find_token(self, plaintext: str) -> TokenView | None:
        """The token with this secret, whatever its state."""
        statement = (
            select(ApiToken, Manager)
            .outerjoin(Manager, Manager.id == ApiToken.manager_id)
            .where(ApiToken.token_sha256 == sha256(plaintext))
        )
        row = (await self.session.execute(statement)).first()
        return None if row is None else TokenView(row[0], row[1])

    async def get_token(self, token_id: str) -> ApiToken | None:
        return await self.session.get(ApiToken, token_id)

    async def list_tokens(self, *, manager_id: str | None = None) -> list[TokenView]:
        statement = (
            select(ApiToken, Manager)
            .outerjoin(Manager, Manager.id == ApiToken.manager_id)
            .order_by(ApiToken.created_at.desc(), ApiToken.id)
        )
        if manager_id is not None:
            statement = statement.where(ApiToken.manager_id == manager_id)
        return [TokenView(t, m) for t, m in await self.session.execute(statement)]

    async def touch(self, token: ApiToken, now: datetime) -> bool:
        """Record a use unless one was recorded within `LAST_USED_EVERY`; True if written."""
        if token.last_used_at is not None and now - token.last_used_at < LAST_USED_EVERY:
            return False
        result = await self.session.execute(
            update(ApiToken)
            .where(
                ApiToken.id == token.id,
                or_(
                    ApiToken.last_used_at.is_(None),
                    ApiToken.last_used_at < now - LAST_USED_EVERY,
                ),
            )
            .values(last_used_at=now)
            .execution_options(synchronize_session=False)
        )
        return bool(getattr(result, "rowcount", 0))

    async def revoke(self, token_ids: Sequence[str], now: datetime) -> list[str]:
        """Revoke the live ones among `token_ids` and end their page sessions; returns the ids
        that were live (revoking twice changes nothing)."""
        if not token_ids:
            return []
        live = list(
            (
                await self.session.execute(
                    select(ApiToken.id).where(
                        ApiToken.id.in_(token_ids), ApiToken.revoked_at.is_(None)
                    )
                )
            ).scalars()
        )
        if live:
            await self.session.execute(
                update(ApiToken)
                .where(ApiToken.id.in_(live))
                .values(revoked_at=now)
                .execution_options(synchronize_session=False)
            )
        await self.session.execute(delete(PageSession).where(PageSession.token_id.in_(token_ids)))
        return live

    async def token_ids_of(self, manager_id: str) -> list[str]:
        statement = select(ApiToken.id).where(ApiToken.manager_id == manager_id)
        return list((await self.session.execute(statement)).scalars())

    # -- page sessions -------------------------------------------------------------------------

    async def open_session(
        self,
        *,
        token_id: str | None,
        bootstrap_sha256: str | None,
        now: datetime,
        expires_at: datetime,
        manager_id: str | None = None,
        method: str = "token",
    ) -> str:
        """A new session; returns the secret for the cookie (stored only as its SHA-256)."""
        secret = secrets.token_urlsafe(32)
        self.session.add(
            PageSession(
                id=str(uuid.uuid4()),
                secret_sha256=sha256(secret),
                token_id=token_id,
                bootstrap_sha256=bootstrap_sha256,
                created_at=now,
                expires_at=expires_at,
                manager_id=manager_id,
                method=method,
            )
        )
        await self.session.execute(delete(PageSession).where(PageSession.expires_at <= now))
        await self.session.flush()
        return secret

    async def find_session(
        self, secret: str, now: datetime
    ) -> tuple[PageSession, TokenView | None, Manager | None] | None:
        """An unexpired session, its token (None for a bootstrap admin's session and a
        password or single sign-on session) and, for the latter, its manager."""
        owner = aliased(Manager)
        statement = (
            select(PageSession, ApiToken, Manager, owner)
            .outerjoin(ApiToken, ApiToken.id == PageSession.token_id)
            .outerjoin(Manager, Manager.id == ApiToken.manager_id)
            .outerjoin(owner, owner.id == PageSession.manager_id)
            .where(PageSession.secret_sha256 == sha256(secret), PageSession.expires_at > now)
        )
        row = (await self.session.execute(statement)).first()
        if row is None:
            return None
        page_session, token, manager, signed_in = row
        return page_session, None if token is None else TokenView(token, manager), signed_in

    async def end_sessions_of(self, manager_id: str) -> int:
        """End every page session of the manager: opened with their password, single sign-on
        or one of their tokens. Returns how many ended."""
        tokens = select(ApiToken.id).where(ApiToken.manager_id == manager_id)
        result = await self.session.execute(
            delete(PageSession)
            .where(or_(PageSession.manager_id == manager_id, PageSession.token_id.in_(tokens)))
            .execution_options(synchronize_session=False)
        )
        return int(getattr(result, "rowcount", 0) or 0)

    async def end_session(self, secret: str) -> None:
        await self.session.execute(
            delete(PageSession).where(PageSession.secret_sha256 == sha256(secret))
        )
