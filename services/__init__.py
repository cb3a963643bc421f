"""The Pupil Progress services, each owning its own database."""
