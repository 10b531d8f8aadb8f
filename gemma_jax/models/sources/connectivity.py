"""Fail fast when a model hub cannot be reached, instead of retrying for minutes.

huggingface_hub retries a failed request five times with backoff (~25 s with
no network), google-cloud-storage retries for up to 120 s, and an HTTP client
without a connect timeout waits for the operating system's (minutes) where a
firewall drops packets. One short request first tells "offline" apart from
everything else, and says what to do.
"""

from __future__ import annotations

from gemma_jax.models.sources.errors import ModelLoadError
from gemma_jax.network_timeouts import hub_timeout_s


def _reason(error: Exception) -> str:
    import requests

    text = str(error)
    if isinstance(error, requests.Timeout):
        return f"no answer within {hub_timeout_s():g} s"
    if "NameResolutionError" in text or "Name or service not known" in text or "nodename nor servname" in text:
        return "its host name does not resolve (no network, or no DNS)"
    if "Connection refused" in text:
        return "connection refused"
    return f"{type(error).__name__}: {text[:200]}"


def require_reachable(url: str, service: str, source: str, advice: str) -> None:
    """Raise ModelLoadError unless `url` answers an HTTP request (any status) within the hub timeout.

    Goes through `requests`, so HTTPS_PROXY / NO_PROXY apply as they do to the hub clients.
    """
    import requests

    timeout = hub_timeout_s()
    try:
        requests.head(url, timeout=(timeout, timeout), allow_redirects=False)
    except requests.RequestException as error:
        raise ModelLoadError(
            f"cannot load '{source}': {service} ({url}) cannot be reached: {_reason(error)}. {advice}"
        ) from error
