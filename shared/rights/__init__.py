"""The rights protocol (DESIGN.md "Erasure and other rights").

Each service declares which of its tables and columns hold personal data, and of whom.
The shared participant answers every rights event from those declarations; a service
overrides a step only where its data needs more than "the rows keyed by this subject".
"""
from .declarations import (NOT_PERSONAL, DataDeclaration, Personal, TableDeclaration,
                           unclassified_columns)
from .participant import RightsParticipant, Subject
from .subjects import GUARDIAN, STAFF, STUDENT, SubjectKey

__all__ = ["GUARDIAN", "NOT_PERSONAL", "STAFF", "STUDENT", "DataDeclaration", "Personal",
           "RightsParticipant", "Subject", "SubjectKey", "TableDeclaration",
           "unclassified_columns"]
