"""gunicorn entry point: `gunicorn services.dsar.wsgi:app`."""
from services.dsar.app import create_app

app = create_app()
