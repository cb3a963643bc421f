"""The rights protocol (DESIGN.md "Erasure and other rights").

Each service declares which of its tables and columns hold personal data, and of whom.
The shared participant answers every rights event from those declarations; a service
overrides a step only where its data needs more than "the rows keyed by this subject".
"""
from .declarations import (NOT_PERSONAL, DataDeclaration, Personal, TableDeclaration,
                           unclassified_columns)
from .participant import RightsParticipant, Subject

__all__ = ["NOT_PERSONAL", "DataDeclaration", "Personal", "RightsParticipant", "Subject",
           "TableDeclaration", "unclassified_columns"]
