"""HTTP hardening of the dashboard's Tornado server: response headers and Panel's /components/ route.

- Every response says it may not be framed (clickjacking), not MIME-sniffed and, over TLS, that
  browsers should keep to HTTPS.
- Panel's `/components/<module>/<class>/<attr>/<file>` route imports any installed module named
  in the URL, for any visitor (a request for `/components/tensorflow/...` loads TensorFlow into the
  server). Ours answers only for modules the dashboard has already imported, from the packages
  that draw it, and never imports anything.
"""

from __future__ import annotations

import sys

from panel.io.server import ComponentResourceHandler
from tornado.web import HTTPError, OutputTransform

COMPONENT_ROUTE = r"/components/(.*)"
COMPONENT_PACKAGES = ("panel", "bokeh", "panel_material_ui", "ui")


def security_headers(*, tls: bool) -> type[OutputTransform]:
    """A Tornado output transform adding the dashboard's security headers to every response."""

    class SecurityHeaders(OutputTransform):
        def transform_first_chunk(self, status_code, headers, chunk, finishing):
            headers["X-Frame-Options"] = "DENY"
            headers["Content-Security-Policy"] = "frame-ancestors 'none'"
            headers["X-Content-Type-Options"] = "nosniff"
            headers["Referrer-Policy"] = "same-origin"
            if tls:
                headers["Strict-Transport-Security"] = "max-age=31536000"
            return status_code, headers, chunk

    return SecurityHeaders


class LoadedComponentHandler(ComponentResourceHandler):
    """Panel's component resources, for already-imported modules of the dashboard's own packages only."""

    def parse_url_path(self, path: str) -> str:
        module = path.split("/", 1)[0]
        if module.split(".", 1)[0] not in COMPONENT_PACKAGES or module not in sys.modules:
            raise HTTPError(404, "Module not found")
        return super().parse_url_path(path)


def component_route() -> tuple[str, type, dict]:
    """The route that replaces Panel's (Tornado takes the first matching rule, and ours comes first)."""
    return (COMPONENT_ROUTE, LoadedComponentHandler, {})
