"""The store: jobs and their logs, login tokens, user-defined processes and web services in
one database (SQLite or PostgreSQL), each part in its own module."""

from backend.store.jobs import LEVELS, Jobs
from backend.store.tokens import Tokens, token_hash
from backend.store.user_processes import UserProcesses
from backend.store.web_services import WebServices


class Store(Jobs, Tokens, UserProcesses, WebServices):
    """All reads and writes of the backend's state, on one engine."""


__all__ = ["LEVELS", "Store", "token_hash"]
