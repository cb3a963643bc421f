"""gunicorn entry point: `gunicorn services.reports.wsgi:app`."""
from services.reports.app import create_app

app = create_app()
