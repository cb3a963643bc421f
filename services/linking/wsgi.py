"""gunicorn entry point: `gunicorn services.linking.wsgi:app`."""
from services.linking.app import create_app

app = create_app()
