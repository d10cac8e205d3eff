"""HTTP translation service (FastAPI + uvicorn): see app.py; `bilingual serve` starts it."""

from bilingual.service.app import ServiceConfig, create_app, load_translator

__all__ = ["ServiceConfig", "create_app", "load_translator"]
