from django.dispatch import Signal

# Sent inside the transaction that wrote the events, once per insert, with
# ``events`` (a list of ``RecordedEvent``: id and type) and ``now``. A receiver
# that writes (webhooks enqueue deliveries) joins that transaction: what it
# writes exists iff the events do.
events_recorded = Signal()
