"""Rate-limit counters kept in the database when there is no Redis."""

from django.db import models


class Counter(models.Model):
    """Hits in one rate-limit window; the window ends at ``expires_ms``.

    Written only by ``throttles.counters.DatabaseCounters`` with single atomic
    statements. The table sits beside the database cache (``django_cache``),
    whose job it does for counters: Django's ``DatabaseCache.incr`` is a read
    then a write, which parallel requests interleave.
    """

    key = models.CharField(max_length=200, primary_key=True)
    count = models.IntegerField()
    # Epoch milliseconds: one integer both databases compare exactly, and the
    # window's identity when a hit is given back.
    expires_ms = models.BigIntegerField(db_index=True)

    class Meta:
        db_table = "django_cache_counter"
        constraints = [
            models.CheckConstraint(
                condition=models.Q(count__gte=0), name="throttles_counter_count_not_negative"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.key}={self.count}"
