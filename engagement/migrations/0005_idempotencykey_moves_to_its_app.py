# IdempotencyKey moves to the idempotency app. Only Django's model state
# changes here: the table (engagement_idempotencykey) stays where it is, with
# its rows, and idempotency's 0001 takes it over under the same name.

from django.db import migrations


class Migration(migrations.Migration):

    dependencies = [
        ('engagement', '0004_user_indexes_served_by_composites'),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.DeleteModel(name='IdempotencyKey'),
            ],
            database_operations=[],
        ),
    ]
