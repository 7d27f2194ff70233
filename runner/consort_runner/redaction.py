"""Keeps the session token and released secret values out of every log line and failure text."""

import json
import logging

REDACTED = "<redacted>"


class Redactor(logging.Filter):
    """Replaces every registered sensitive string; also a logging filter for the runner's handler."""

    def __init__(self):
        super().__init__()
        self._values = set()

    def add(self, value: str):
        if value and len(value) >= 4:
            self._values.add(value)

    def add_secret(self, raw: bytes):
        """A released secret: its whole text and, for a JSON object, each string inside it."""
        text = raw.decode("utf-8", errors="replace")
        self.add(text)
        try:
            value = json.loads(text)
        except ValueError:
            return
        if isinstance(value, dict):
            for key, item in value.items():
                # Endpoints, regions and account names are addresses, not keys; keep messages readable.
                if isinstance(item, str) and key not in ("endpoint", "region", "account"):
                    self.add(item)

    def scrub(self, text: str) -> str:
        for value in sorted(self._values, key=len, reverse=True):
            text = text.replace(value, REDACTED)
        return text

    def filter(self, record):
        record.msg = self.scrub(record.getMessage())
        record.args = None
        return True
