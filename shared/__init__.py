"""Plumbing shared by every Pupil Progress service.

The plumbing modules (config, db, errors, web, auth, logging, messaging, rights) never
contain business events; those live in `shared.contracts`, one schema per event.
"""
