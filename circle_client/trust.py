"""Which certificates the client trusts for wss:// servers, and saying so when one fails.

By default the system's certificate authorities. ``circle --ca-file FILE`` (or
``CIRCLE_CA_FILE``) adds a host's own certificate or CA, for a server with a self-signed
certificate; nothing is ever trusted without a check.
"""

from __future__ import annotations

import os
import ssl
from collections.abc import Mapping

from protocol.errors import CircleError

ENV_NAME = "CIRCLE_CA_FILE"


class TrustSettingError(CircleError):
    """The CA file cannot be used; the message says what to do."""


def tls_context(ca_file: str | None = None, env: Mapping[str, str] | None = None) -> ssl.SSLContext:
    """The client's TLS context: system CAs, plus ``ca_file`` (or ``$CIRCLE_CA_FILE``)."""
    environ = os.environ if env is None else env
    path = ca_file or environ.get(ENV_NAME) or None
    context = ssl.create_default_context()
    if path:
        try:
            context.load_verify_locations(cafile=path)
        except (OSError, ssl.SSLError, ValueError):
            raise TrustSettingError(
                f"Cannot use {path!r} as a CA file: it must be a readable PEM certificate "
                "(the one the host gave you)."
            ) from None
    return context


def certificate_problem(url: str, exc: ssl.SSLCertVerificationError) -> str:
    """What to tell a user whose server's certificate did not verify."""
    why = exc.verify_message or exc.reason or "not trusted"
    return (
        f"The server at {url} presented a certificate this computer does not trust ({why}). "
        "Do not go on if you did not expect this. If the host uses its own certificate, get "
        "the certificate file from them and start circle with --ca-file FILE."
    )
