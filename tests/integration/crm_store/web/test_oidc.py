"""Single sign-on's ID token check against a provider served over real HTTP on a loopback port
(its discovery document and keys): a token is accepted only when signed by one of the
provider's published keys, issued by it, for our client, unexpired, with our nonce and a
verified e-mail address of an accepted domain. Tokens are made and signed here, with keys made
here, so every way a forged or stale token can differ is tried."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from joserfc import jwt
from joserfc.jwk import KeySet, RSAKey

from crm_store.config import Settings
from crm_store.web.oidc import Attempt, OidcClient, SignOnFailed

pytestmark = pytest.mark.integration

CLIENT_ID = "switchboard-test"
NONCE = "nonce-0123456789"


class Provider:
    def __init__(self) -> None:
        self.key = RSAKey.generate_key(2048, parameters={"kid": "one"})
        self.published = [self.key]
        self.key_fetches = 0
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.issuer = f"http://127.0.0.1:{self.server.server_port}"

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        provider = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                if self.path == "/.well-known/openid-configuration":
                    body: dict[str, Any] = {
                        "issuer": provider.issuer,
                        "authorization_endpoint": f"{provider.issuer}/authorize",
                        "token_endpoint": f"{provider.issuer}/token",
                        "jwks_uri": f"{provider.issuer}/jwks",
                    }
                elif self.path == "/jwks":
                    provider.key_fetches += 1
                    body = dict(KeySet(list(provider.published)).as_dict())  # type: ignore[arg-type]
                else:
                    self.send_error(404)
                    return
                raw = json.dumps(body).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(raw)))
                self.end_headers()
                self.wfile.write(raw)

            def log_message(self, *args: Any) -> None:
                pass

        return Handler

    def token(self, key: RSAKey | None = None, **changes: Any) -> str:
        now = int(time.time())
        claims: dict[str, Any] = {
            "iss": self.issuer,
            "aud": CLIENT_ID,
            "sub": "user-1",
            "iat": now,
            "exp": now + 300,
            "nonce": NONCE,
            "email": "Nora@Acme-Corp.com",
            "email_verified": True,
        }
        claims.update(changes)
        claims = {k: v for k, v in claims.items() if v is not None}
        signer = key or self.key
        header = {"alg": "RS256", "kid": signer.kid}
        return jwt.encode(header, claims, signer)


@pytest.fixture
def provider() -> Iterator[Provider]:
    provider = Provider()
    thread = threading.Thread(target=provider.server.serve_forever, daemon=True)
    thread.start()
    try:
        yield provider
    finally:
        provider.server.shutdown()
        provider.server.server_close()


def client_for(provider: Provider, domains: str = "") -> OidcClient:
    settings = Settings(
        oidc_issuer=provider.issuer,
        oidc_client_id=CLIENT_ID,
        oidc_client_secret="test-oidc-client-secret-0123",
        oidc_email_domains=domains,
    )
    return OidcClient(settings)


async def identify(client: OidcClient, token: str, nonce: str = NONCE) -> str:
    provider = await client.provider()
    claims = await client.verify(token, nonce, provider.issuer)
    return client.identity(claims).email


async def test_a_token_from_the_provider_for_us_names_who_signed_in(provider: Provider) -> None:
    client = client_for(provider, "acme-corp.com")
    assert await identify(client, provider.token()) == "nora@acme-corp.com"
    url = await client.authorization_url(
        Attempt("s", NONCE, "v" * 64), "http://127.0.0.1:8004/login/sso/callback"
    )
    for part in ("code_challenge_method=S256", "state=s", f"nonce={NONCE}", "scope=openid"):
        assert part in url, url
    assert "v" * 64 not in url, "the PKCE verifier never travels in the URL"


@pytest.mark.parametrize(
    ("changes", "why"),
    [
        ({"iss": "http://127.0.0.1:1"}, "another issuer"),
        ({"aud": "someone-else"}, "another audience"),
        ({"aud": ["someone-else", CLIENT_ID]}, "several audiences, no azp for us"),
        ({"exp": int(time.time()) - 3600}, "expired"),
        ({"exp": None}, "no expiry"),
        ({"nonce": "replayed-nonce"}, "another sign-in's nonce"),
        ({"nonce": None}, "no nonce"),
        ({"sub": None}, "no subject"),
    ],
)
async def test_a_token_that_is_not_for_this_sign_in_is_refused(
    provider: Provider, changes: dict[str, Any], why: str
) -> None:
    client = client_for(provider)
    with pytest.raises(SignOnFailed):
        await identify(client, provider.token(**changes))


async def test_a_token_signed_with_a_key_the_provider_does_not_publish_is_refused(
    provider: Provider,
) -> None:
    client = client_for(provider)
    forger = RSAKey.generate_key(2048, parameters={"kid": "one"})
    with pytest.raises(SignOnFailed, match="signature"):
        await identify(client, provider.token(key=forger))
    unsigned = provider.token().rsplit(".", 1)[0] + "."
    with pytest.raises(SignOnFailed):
        await identify(client, unsigned)


async def test_a_rotated_key_is_fetched_again(provider: Provider) -> None:
    client = client_for(provider)
    assert await identify(client, provider.token())
    assert provider.key_fetches == 1
    rotated = RSAKey.generate_key(2048, parameters={"kid": "two"})
    provider.published = [rotated]
    assert await identify(client, provider.token(key=rotated)) == "nora@acme-corp.com"
    assert provider.key_fetches == 2


@pytest.mark.parametrize(
    ("claims", "domains"),
    [
        ({"email_verified": False}, ""),
        ({"email_verified": None}, ""),
        ({"email": None}, ""),
        ({"email": "nora@elsewhere.example"}, "acme-corp.com"),
    ],
)
async def test_an_unverified_or_foreign_address_signs_no_one_in(
    provider: Provider, claims: dict[str, Any], domains: str
) -> None:
    client = client_for(provider, domains)
    with pytest.raises(SignOnFailed):
        await identify(client, provider.token(**claims))


async def test_a_microsoft_style_domain_verified_address_is_accepted(provider: Provider) -> None:
    client = client_for(provider)
    token = provider.token(email_verified=None, xms_edov=True)
    assert await identify(client, token) == "nora@acme-corp.com"
