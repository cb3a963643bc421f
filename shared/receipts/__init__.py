"""Signed receipts for the rights (issue 30): each service signs its answer with a key of
its own (keys.py), dsar gathers them into one receipt it signs (receipt.py), and anyone
verifies it offline against the published keys (jws.py; `python -m shared.receipts`)."""
from .jws import InvalidJws, keys_from_jwks, service_keys
from .keys import ANSWER_TYPE, ReceiptKeys, define_receipt_keys
from .receipt import (RECEIPT_TYPE, InvalidReceipt, KeySets, Verified, entry_hash,
                      verify_receipt)

__all__ = ["ANSWER_TYPE", "RECEIPT_TYPE", "InvalidJws", "InvalidReceipt", "KeySets",
           "ReceiptKeys", "Verified", "define_receipt_keys", "entry_hash", "keys_from_jwks",
           "service_keys", "verify_receipt"]
