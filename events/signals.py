from django.dispatch import Signal

# Sent inside the transaction that wrote the events, once per insert, with
# ``events`` (a list of ``RecordedEvent``: id and type), ``now`` and ``write``
# (a callable taking ``statements.Rows``). A receiver that writes (webhooks
# stage their fan-out) hands its rows to ``write``: they join the change's own
# statement where the events were written in one, and its transaction always,
# so what it writes exists iff the events do.
events_recorded = Signal()
