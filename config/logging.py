"""Logging helpers: every record carries the id of the request it belongs to."""

import logging

from config.request_context import request_id_var


class RequestIdFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = request_id_var.get()
        return True
