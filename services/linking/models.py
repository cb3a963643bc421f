"""The linking service's own database: its tables and the shared plumbing tables."""
from __future__ import annotations

import sqlalchemy as sa

from shared.tables import define_plumbing_tables

metadata = sa.MetaData()
plumbing = define_plumbing_tables(metadata)
