# Takes over the engagement app's IdempotencyKey table without touching it
# (state only; see engagement 0005). The content type and its permissions
# are renamed to the new app so that nothing refers to the old label.

import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models


def rename_content_type(apps, schema_editor):
    ContentType = apps.get_model('contenttypes', 'ContentType')
    db = schema_editor.connection.alias
    old = ContentType.objects.using(db).filter(app_label='engagement', model='idempotencykey')
    if not ContentType.objects.using(db).filter(
        app_label='idempotency', model='idempotencykey'
    ).exists():
        old.update(app_label='idempotency')


def restore_content_type(apps, schema_editor):
    ContentType = apps.get_model('contenttypes', 'ContentType')
    db = schema_editor.connection.alias
    new = ContentType.objects.using(db).filter(app_label='idempotency', model='idempotencykey')
    if not ContentType.objects.using(db).filter(
        app_label='engagement', model='idempotencykey'
    ).exists():
        new.update(app_label='engagement')


class Migration(migrations.Migration):

    initial = True

    dependencies = [
        ('contenttypes', '0002_remove_content_type_name'),
        ('engagement', '0005_idempotencykey_moves_to_its_app'),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.CreateModel(
                    name='IdempotencyKey',
                    fields=[
                        ('id', models.BigAutoField(primary_key=True, serialize=False)),
                        ('key', models.CharField(max_length=255)),
                        ('fingerprint', models.CharField(help_text='SHA-256 of method, path and body.', max_length=64)),
                        ('status_code', models.PositiveSmallIntegerField(blank=True, null=True)),
                        ('response_body', models.TextField(blank=True)),
                        ('content_type', models.CharField(blank=True, max_length=100)),
                        ('created_at', models.DateTimeField()),
                        ('user', models.ForeignKey(db_index=False, on_delete=django.db.models.deletion.CASCADE, related_name='idempotency_keys', to=settings.AUTH_USER_MODEL)),
                    ],
                    options={
                        'db_table': 'engagement_idempotencykey',
                        'indexes': [models.Index(fields=['created_at'], name='engagement_idemkey_created_idx')],
                        'constraints': [models.UniqueConstraint(fields=('user', 'key'), name='engagement_idempotencykey_user_key_unique')],
                    },
                ),
            ],
            database_operations=[],
        ),
        migrations.RunPython(rename_content_type, restore_content_type, elidable=True),
    ]
