"""Single sign-on with OpenID Connect: the authorization code flow with PKCE, state and nonce,
and the ID token verified here (signature with the provider's published keys, issuer,
audience, expiry, nonce).

Authlib makes the PKCE challenge and the random values; joserfc (Authlib's JOSE library)
checks the token. The provider's discovery document and keys are fetched when first needed,
kept for an hour, and the keys again at once when a token names a key we do not have (the
provider rotated). Every answer from the provider is bounded in size and time.
"""

from __future__ import annotations

import asyncio
import json
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import httpx
from authlib.common.security import generate_token
from authlib.common.urls import add_params_to_uri
from authlib.oauth2.rfc7636 import create_s256_code_challenge
from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import KeySet

from crm_store.config import Settings, secure_or_loopback

CACHE_S = 3600.0
TIMEOUT_S = 10.0
MAX_ANSWER_BYTES = 512 * 1024
LEEWAY_S = 60
ALGORITHMS = ["RS256", "RS384", "RS512", "PS256", "ES256", "ES384"]
SCOPE = "openid email profile"


class SignOnFailed(Exception):
    """The provider's answer does not prove who signed in; the message is safe to log."""


@dataclass(frozen=True)
class Provider:
    issuer: str
    authorization_endpoint: str
    token_endpoint: str
    jwks_uri: str


@dataclass(frozen=True)
class Attempt:
    """What the browser carries between leaving for the provider and coming back."""

    state: str
    nonce: str
    verifier: str

    @classmethod
    def new(cls) -> Attempt:
        return cls(generate_token(32), generate_token(32), generate_token(64))


@dataclass(frozen=True)
class Identity:
    subject: str
    email: str
    name: str | None


def _same_issuer(a: str, b: str) -> bool:
    return a.rstrip("/") == b.rstrip("/")


class OidcClient:
    def __init__(self, settings: Settings) -> None:
        if not (settings.oidc_issuer and settings.oidc_client_id and settings.oidc_client_secret):
            raise ValueError("single sign-on is not configured")
        self.issuer = settings.oidc_issuer
        self.client_id = settings.oidc_client_id
        self.client_secret = settings.oidc_client_secret
        self.domains = frozenset(settings.oidc_email_domains)
        self._provider: tuple[float, Provider] | None = None
        self._keys: tuple[float, KeySet] | None = None
        self._lock = asyncio.Lock()

    async def _get_json(self, url: str, **kwargs: Any) -> dict[str, Any]:
        if not secure_or_loopback(url):
            raise SignOnFailed(f"the provider named a non-https address: {url[:200]}")
        async with (
            httpx.AsyncClient(timeout=TIMEOUT_S, follow_redirects=False) as client,
            client.stream(kwargs.pop("method", "GET"), url, **kwargs) as response,
        ):
            body = bytearray()
            async for chunk in response.aiter_bytes():
                body += chunk
                if len(body) > MAX_ANSWER_BYTES:
                    raise SignOnFailed(f"the provider's answer from {url[:200]} is too large")
        try:
            document = json.loads(body)
        except ValueError as exc:
            raise SignOnFailed(
                f"the provider answered {response.status_code} without JSON"
            ) from exc
        if not isinstance(document, dict):
            raise SignOnFailed("the provider's answer is not a JSON object")
        if response.status_code != 200:
            error = str(document.get("error", ""))[:100]
            raise SignOnFailed(f"the provider answered {response.status_code} {error}")
        return document

    async def provider(self) -> Provider:
        async with self._lock:
            if self._provider and time.monotonic() - self._provider[0] < CACHE_S:
                return self._provider[1]
            url = self.issuer.rstrip("/") + "/.well-known/openid-configuration"
            document = await self._get_json(url)
            try:
                found = Provider(
                    issuer=str(document["issuer"]),
                    authorization_endpoint=str(document["authorization_endpoint"]),
                    token_endpoint=str(document["token_endpoint"]),
                    jwks_uri=str(document["jwks_uri"]),
                )
            except KeyError as exc:
                raise SignOnFailed(f"the discovery document lacks {exc}") from exc
            if not _same_issuer(found.issuer, self.issuer):
                raise SignOnFailed("the discovery document names another issuer")
            self._provider = (time.monotonic(), found)
            return found

    async def keys(self, *, fresh: bool = False) -> KeySet:
        if not fresh and self._keys and time.monotonic() - self._keys[0] < CACHE_S:
            return self._keys[1]
        provider = await self.provider()
        document = await self._get_json(provider.jwks_uri)
        try:
            keys = KeySet.import_key_set(document)  # type: ignore[arg-type]
        except (JoseError, ValueError, TypeError, KeyError) as exc:
            raise SignOnFailed("the provider's keys could not be read") from exc
        self._keys = (time.monotonic(), keys)
        return keys

    async def authorization_url(self, attempt: Attempt, redirect_uri: str) -> str:
        provider = await self.provider()
        url: str = add_params_to_uri(
            provider.authorization_endpoint,
            [
                ("response_type", "code"),
                ("client_id", self.client_id),
                ("redirect_uri", redirect_uri),
                ("scope", SCOPE),
                ("state", attempt.state),
                ("nonce", attempt.nonce),
                ("code_challenge", create_s256_code_challenge(attempt.verifier)),
                ("code_challenge_method", "S256"),
                ("prompt", "select_account"),
            ],
        )
        return url

    async def sign_on(self, code: str, attempt: Attempt, redirect_uri: str) -> Identity:
        """Trade the code for tokens and return who the verified ID token says signed in."""
        provider = await self.provider()
        answer = await self._get_json(
            provider.token_endpoint,
            method="POST",
            data={
                "grant_type": "authorization_code",
                "code": code,
                "redirect_uri": redirect_uri,
                "code_verifier": attempt.verifier,
            },
            # client_secret_basic: both form-encoded first (RFC 6749, 2.3.1), as Authlib does
            auth=(quote(self.client_id, safe=""), quote(self.client_secret, safe="")),
            headers={"Accept": "application/json"},
        )
        id_token = answer.get("id_token")
        if not isinstance(id_token, str) or len(id_token) > MAX_ANSWER_BYTES:
            raise SignOnFailed("the provider sent no ID token")
        claims = await self.verify(id_token, attempt.nonce, provider.issuer)
        return self.identity(claims)

    async def verify(self, id_token: str, nonce: str, issuer: str) -> dict[str, Any]:
        """The claims of a token signed with one of the provider's keys, issued by it, for us,
        unexpired, and carrying our nonce."""
        try:
            token = jwt.decode(id_token, await self.keys(), algorithms=ALGORITHMS)
        except (JoseError, ValueError) as first:
            try:  # the provider may have rotated its keys since we fetched them
                token = jwt.decode(id_token, await self.keys(fresh=True), algorithms=ALGORITHMS)
            except (JoseError, ValueError) as exc:
                raise SignOnFailed(f"the ID token's signature does not verify: {exc}") from first
        registry = jwt.JWTClaimsRegistry(
            leeway=LEEWAY_S,
            iss={"essential": True, "value": issuer},
            aud={"essential": True, "value": self.client_id},
            exp={"essential": True},
            iat={"essential": True},
            sub={"essential": True},
            nonce={"essential": True, "value": nonce},
        )
        try:
            registry.validate(token.claims)
        except JoseError as exc:
            raise SignOnFailed(f"the ID token is not for us or not valid now: {exc}") from exc
        audience = token.claims.get("aud")
        if (
            isinstance(audience, list)
            and len(audience) > 1
            and token.claims.get("azp") != self.client_id
        ):
            raise SignOnFailed("the ID token was issued to another party")
        return dict(token.claims)

    def identity(self, claims: dict[str, Any]) -> Identity:
        email = claims.get("email")
        if not isinstance(email, str) or "@" not in email or len(email) > 320:
            raise SignOnFailed("the ID token carries no e-mail address (ask for the email scope)")
        # Google and most providers: email_verified; Microsoft: xms_edov (domain owner verified).
        verified = claims.get("email_verified", claims.get("xms_edov"))
        if verified is not True and str(verified).lower() != "true":
            raise SignOnFailed("the provider has not verified the e-mail address")
        email = email.strip().lower()
        if self.domains and email.rpartition("@")[2] not in self.domains:
            raise SignOnFailed("the e-mail address's domain is not accepted here")
        name = claims.get("name")
        return Identity(str(claims["sub"]), email, name if isinstance(name, str) else None)
