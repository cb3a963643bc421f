"""OneRoster 1.2 CSV bundles, read and mapped onto the school-data push (no Flask, no DB).

A bundle is a zip holding `manifest.csv` and one CSV per file the manifest names `bulk` or
`delta`. Reading checks the zip, the manifest, every needed column and every row, each
fault reported by file and line. The rows then change the school's held roster (`State`:
what earlier uploads said, sourcedId -> row); the whole roster is projected onto the same
pushed events a JSON batch carries (student.upserted, guardian.upserted, …), which ingest
validates and publishes as it does a batch, skipping what did not change.

docs/oneroster.md has the table of every field used, where it goes, and what is ignored.

The package's modules, in the order a bundle goes through them: `fields` (the files and
their columns), `reading` (zip, manifest, rows), `roster` (the held roster, changed by a
bundle), `projection` (the roster as pushed events).
"""
from .fields import (CONTACT_ROLES, FILES, HELD, MAX_BUNDLE_BYTES, MAX_MEMBERS,
                     MAX_RECORD_CHARS, MAX_REPORTED_ERRORS, MAX_ROWS, MODES, SPECS,
                     BundleRejected, FileSpec, Row, _error)
from .projection import TAKEN_ROLES, Projection, project, user_roles
from .reading import VERSION_FILES, Bundle, read_bundle, read_manifest
from .roster import Pushed, Settings, State, apply, subject_of

__all__ = [
    "CONTACT_ROLES", "FILES", "HELD", "MAX_BUNDLE_BYTES", "MAX_MEMBERS", "MAX_RECORD_CHARS",
    "MAX_REPORTED_ERRORS", "MAX_ROWS", "MODES", "SPECS", "TAKEN_ROLES", "VERSION_FILES",
    "Bundle", "BundleRejected", "FileSpec", "Projection", "Pushed", "Row", "Settings", "State",
    "_error", "apply", "project", "read_bundle", "read_manifest", "subject_of", "user_roles",
]
