"""Database expressions the ORM lacks, written once for both databases."""

from django.db.models import Aggregate, JSONField


class JSONGroupArray(Aggregate):
    """Aggregate rows into one JSON array: ``jsonb_agg`` on PostgreSQL (jsonb,
    which Django parses like any JSONField), ``json_group_array`` on SQLite."""

    function = "JSONB_AGG"
    output_field = JSONField()

    def as_sqlite(self, compiler, connection, **extra_context):
        return self.as_sql(compiler, connection, function="JSON_GROUP_ARRAY", **extra_context)
