"""dsar is the requester, not a participant: it keeps ids of subject requests and the
audit trail for accountability, and exports only until they expire (issue 9)."""
DECLARATION = None
