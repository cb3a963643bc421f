"""A mail catcher answering as Mailpit does, for the parts compose's users and tests read.

SMTP on 1025 (no authentication, no TLS), and on 8025:
  GET    /api/v1/messages        newest first: {"total", "count", "start", "messages": [summary]}
  GET    /api/v1/message/<ID>    {"ID", "From", "To", "Subject", "Date", "Text", "HTML", ...}
  DELETE /api/v1/messages        every message
  GET    /                       a plain list
Messages are kept in memory, the newest 500 (Mailpit's default limit).
"""
import email
import email.policy
import email.utils
import html
import json
import signal
import sys
import threading
import uuid
from datetime import datetime, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from aiosmtpd.controller import Controller

LIMIT = 500
_lock = threading.Lock()
_messages: list[dict] = []  # newest first


def _addresses(value) -> list[dict]:
    return [{"Name": name, "Address": address}
            for name, address in email.utils.getaddresses([str(value)] if value else [])]


def _text(message, kind: str) -> str:
    part = message.get_body(preferencelist=(kind,))
    return part.get_content() if part is not None else ""


def _store(raw: bytes, envelope_to: list[str]) -> None:
    message = email.message_from_bytes(raw, policy=email.policy.default)
    sender = _addresses(message["From"])
    entry = {
        "ID": uuid.uuid4().hex,
        "MessageID": str(message["Message-ID"] or "").strip("<>"),
        "Read": False,
        "From": sender[0] if sender else {"Name": "", "Address": ""},
        "To": _addresses(message["To"]) or [{"Name": "", "Address": a} for a in envelope_to],
        "Cc": _addresses(message["Cc"]), "Bcc": [], "ReplyTo": _addresses(message["Reply-To"]),
        "Subject": str(message["Subject"] or ""),
        "Created": datetime.now(timezone.utc).isoformat(timespec="milliseconds"),
        "Date": str(message["Date"] or ""),
        "Tags": [], "Size": len(raw), "Attachments": 0,
        "Text": _text(message, "plain"), "HTML": _text(message, "html"),
    }
    entry["Snippet"] = " ".join(entry["Text"].split())[:250]
    with _lock:
        _messages.insert(0, entry)
        del _messages[LIMIT:]


class Handler:  # aiosmtpd's handler
    async def handle_DATA(self, server, session, envelope):
        _store(envelope.original_content or envelope.content, list(envelope.rcpt_tos))
        return "250 Message accepted"


SUMMARY = ("ID", "MessageID", "Read", "From", "To", "Cc", "Bcc", "ReplyTo", "Subject",
           "Created", "Tags", "Size", "Attachments", "Snippet")


class Api(BaseHTTPRequestHandler):
    def _json(self, status: int, body) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self):  # noqa: N802 (http.server's name)
        path = self.path.split("?", 1)[0]
        with _lock:
            messages = list(_messages)
        if path == "/api/v1/messages":
            return self._list(messages)
        if path.startswith("/api/v1/message/"):
            return self._one(messages, path.rsplit("/", 1)[1])
        if path in ("/", "/index.html"):
            return self._index(messages)
        if path in ("/livez", "/readyz"):
            return self._json(200, {})
        return self._json(404, {"Error": "not found"})

    def _list(self, messages):
        summaries = [{k: m[k] for k in SUMMARY} for m in messages]
        return self._json(200, {"total": len(messages), "unread": len(messages),
                                "count": len(messages), "messages_count": len(messages),
                                "start": 0, "tags": [], "messages": summaries})

    def _one(self, messages, wanted):
        if wanted == "latest" and messages:
            return self._json(200, messages[0])
        for message in messages:
            if message["ID"] == wanted:
                return self._json(200, message)
        return self._json(404, {"Error": "message not found"})

    def _index(self, messages):
        rows = "".join(f"<li>{html.escape(m['Created'])} {html.escape(m['Subject'])}</li>"
                       for m in messages)
        data = f"<!doctype html><title>Mailpit</title><ul>{rows}</ul>".encode()
        self.send_response(200)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        return self.wfile.write(data)

    def do_DELETE(self):  # noqa: N802
        if self.path.split("?", 1)[0] == "/api/v1/messages":
            with _lock:
                _messages.clear()
            return self._json(200, {})
        return self._json(404, {"Error": "not found"})

    def log_message(self, *args):  # addresses stay out of the logs
        pass


def main() -> None:
    smtp = Controller(Handler(), hostname="0.0.0.0", port=1025)
    smtp.start()
    # PID 1 in a container: a stop signal ends it at once.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    print("mailpit stand-in: SMTP on 1025, HTTP on 8025", flush=True)
    try:
        ThreadingHTTPServer(("0.0.0.0", 8025), Api).serve_forever()
    finally:
        smtp.stop()


if __name__ == "__main__":
    main()
