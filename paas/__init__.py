"""paas: a self-hosted, Heroku-style platform as a service."""

__version__ = "0.1.0"
