"""E-mail sent beside the request, never in it.

A request that sends mail waits for the mail server (an SMTP round trip, or
its timeout, ``EMAIL_TIMEOUT``) and shows by its duration whether it sent any:
a password-reset request would tell known addresses from unknown ones. So
messages, fully rendered by the request, are handed to one sender thread per
process, in order. Call :func:`send_later` from ``transaction.on_commit``: a
message leaves only for work that committed.

At most once: a message still queued when the process is killed is lost (a
clean shutdown sends the queue first), and a failure is logged, not retried;
users ask again. Durable delivery belongs to a task queue.
"""

import contextvars
import logging
from concurrent.futures import ThreadPoolExecutor

from django.core.mail import EmailMessage

logger = logging.getLogger(__name__)

# Threads start with the first message, so a server that forks after import
# (gunicorn --preload) forks none.
_sender = ThreadPoolExecutor(max_workers=1, thread_name_prefix="mail")


def _send(message: EmailMessage) -> None:
    try:
        message.send()
    except Exception:
        logger.exception("E-mail not sent (subject %r)", message.subject)


def send_later(message: EmailMessage) -> None:
    """Queue ``message`` for the sender thread; it logs with the request id
    of the request that queued it."""
    _sender.submit(contextvars.copy_context().run, _send, message)


def wait_until_sent(timeout: float = 10.0) -> None:
    """Wait until every message queued so far was handed to the mail backend
    (tests; one sender thread, so the queue runs in order)."""
    _sender.submit(lambda: None).result(timeout=timeout)
