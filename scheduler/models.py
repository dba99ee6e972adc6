from django.db import models


class ScheduledRun(models.Model):
    """One periodic job's slot, enqueued once: the unique (job, slot) lets one
    scheduler of several enqueue it, and makes a repeated tick a no-op."""

    job = models.CharField(max_length=100)
    slot = models.DateTimeField()
    enqueued_at = models.DateTimeField()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["job", "slot"], name="scheduler_run_once_per_slot"),
        ]

    def __str__(self) -> str:
        return f"{self.job} at {self.slot:%Y-%m-%d %H:%M:%S}"
