"""Examples of notifications' main requests and answers, for its OpenAPI document."""

PREFERENCES = {"report_emails": False}
