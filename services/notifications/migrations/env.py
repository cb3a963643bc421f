from services.notifications.models import metadata
from shared.migrations_env import run

run(metadata)
