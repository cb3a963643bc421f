"""Which of the linking service's tables and columns hold personal data, and of whom.

The shared rights participant exports, erases and restricts from this declaration; the
data-map test fails on any text, date or JSON column left unclassified.
"""
from shared.rights import DataDeclaration

DECLARATION = DataDeclaration("linking", tables=())
