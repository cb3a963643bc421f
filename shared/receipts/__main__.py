"""Receipts from the command line.

    python -m shared.receipts verify RECEIPT --keys [SERVICE=]JWKS [--keys ...]
        offline: every signature of a receipt against published keys (files of JWKS JSON,
        each service's GET /receipt-keys/<service>, kept as that service's: SERVICE=FILE,
        or a FILE whose document names its service); a signature counts for a service
        only under a key of its own set; exit 0 if it verifies, else 1
    python -m shared.receipts rotate SERVICE     (ops: SERVICE signs with a new key)
    python -m shared.receipts jwks SERVICE       (SERVICE's public keys, as served)
"""
from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from .jws import InvalidJws, service_keys
from .receipt import InvalidReceipt, verify_receipt


def key_sets(key_args: list[str]) -> dict[str, dict[str, Any]]:
    """Each --keys as its service's own set: SERVICE=FILE binds the file to SERVICE (the
    document, if it names a service, must name the same); a bare FILE is the service its
    document names. Two files of one service (copies kept over the years) are one set."""
    sets: dict[str, dict[str, Any]] = {}
    for arg in key_args:
        service, sep, path = arg.partition("=")
        if not sep or "/" in service or "\\" in service:
            service, path = "", arg
        with open(path, encoding="utf-8") as handle:
            document = json.load(handle)
        try:
            name, keys = service_keys(document, service or None)
        except InvalidJws as exc:
            raise InvalidReceipt(f"{path}: {exc}") from None
        sets.setdefault(name, {}).update(keys)
    return sets


def verify(receipt_path: str, key_args: list[str]) -> int:
    with open(receipt_path, encoding="utf-8", newline="") as handle:
        text = handle.read()
    try:
        verified = verify_receipt(text, key_sets(key_args))
    except InvalidReceipt as exc:
        print(f"NOT VERIFIED: {exc}")
        return 1
    request = verified.request
    print(f"VERIFIED: {request.get('kind')} request {request.get('id')} of school "
          f"{request.get('school_id')}, completed {request.get('completed_at')}")
    for service, answer in sorted(verified.answers.items()):
        counts = ", ".join(f"{t}={n}" for t, n in sorted(answer.get("counts", {}).items()))
        print(f"  {service}: {answer.get('outcome')} at {answer.get('at')} ({counts or '-'})")
    print(f"  audit head: entry {verified.audit_head.get('seq')} "
          f"{verified.audit_head.get('hash')}")
    return 0


def _keys_of(service: str) -> tuple[Any, Any]:
    """The service's keys as its processes reach them (sealed by its secret: run the
    command with the service's configuration)."""
    import importlib

    from shared.config import Settings
    from shared.db import make_engine
    from shared.service import receipt_keys_for
    settings = Settings.from_env()
    spec = importlib.import_module(f"services.{service}.app").SPEC
    return make_engine(settings.database_url(service)), receipt_keys_for(spec, settings)


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m shared.receipts", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True)
    check = commands.add_parser("verify")
    check.add_argument("receipt")
    check.add_argument("--keys", action="append", required=True)
    for name in ("rotate", "jwks"):
        commands.add_parser(name).add_argument("service")
    args = parser.parse_args(argv)
    if args.command == "verify":
        return verify(args.receipt, args.keys)
    engine, ring = _keys_of(args.service)
    with engine.begin() as conn:
        if args.command == "rotate":
            print(f"{args.service} signs receipts with key {ring.rotate(conn)}")
        else:
            print(json.dumps(ring.jwks(conn), indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
