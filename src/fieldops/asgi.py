"""ASGI entry point for uvicorn: `fieldops.asgi:app`."""

from fieldops.main import create_app

app = create_app()
