"""Logins for the dashboard: credentials, server-side sessions, backoff and the login pages."""

from ui.auth.credentials import CredentialsError, SharedPassword, UsersFile, load_credentials
from ui.auth.provider import DashboardAuth

__all__ = ["CredentialsError", "DashboardAuth", "SharedPassword", "UsersFile", "load_credentials"]
