"""gunicorn entry point: `gunicorn services.ingest.wsgi:app`."""
from services.ingest.app import create_app

app = create_app()
