"""Every model that points at the user is exported and erased.

The walk is over the models themselves (``apps.get_models``, every field whose
related model is the user model, the reverse one-to-one ``state`` and the
many-to-many tables included), so a model added later fails here until the
export has a section for it; the erasure finds it on its own.
"""

import pytest
from django.contrib.admin.models import LogEntry
from django.core.management import call_command
from django.db.models import ManyToManyField
from django.utils import timezone

from privacy.sections import SECTIONS, installed_sections, user_relations
from privacy.services import user_erase, user_export
from users.models import User

pytestmark = pytest.mark.django_db


def related_to_the_user() -> set[str]:
    """Labels of every model holding a column that points at a user, found
    from the user model's side: its reverse relations (one-to-one included)
    and the tables of its many-to-many fields."""
    labels = set()
    for field in User._meta.get_fields(include_hidden=True):
        if not field.is_relation or field.related_model is None:
            continue
        if isinstance(field, ManyToManyField):  # groups, user_permissions
            through = field.remote_field.through
            assert through is not None
            labels.add(through._meta.label)
        elif field.auto_created and not field.concrete:  # reverse FK / one-to-one / m2m
            labels.add(field.related_model._meta.label)
    return labels


def test_the_walk_over_the_models_finds_every_relation_the_user_model_knows():
    walked = {model._meta.label for model, _ in user_relations()}

    assert related_to_the_user() == walked
    assert {"engagement.UserState", "checkins.CheckIn", "users.User_groups"} <= walked


def test_every_model_pointing_at_the_user_has_an_export_section():
    sections = {section.model for section in SECTIONS}

    missing = {model._meta.label for model, _ in user_relations()} - sections

    assert not missing, (
        f"{sorted(missing)} point at users but have no section in privacy.sections.SECTIONS: "
        "add one (columns that are the user's data, never secrets) so the export shows them"
    )


def test_every_section_is_exported_and_every_relation_is_erased(ann, bystander):
    bystander_export = user_export(user_id=bystander.pk, now=timezone.now())

    document = user_export(user_id=ann.pk, now=timezone.now())
    user_erase(user_id=ann.pk, now=timezone.now(), reason=None)

    for section, _model in installed_sections():
        assert document[section.name], f"section {section.name} is empty"
    leftovers = {
        model._meta.label: count
        for model, field in user_relations()
        if (count := model._base_manager.filter(**{field.attname: ann.pk}).count())
    }
    assert leftovers == {}
    assert not User.objects.filter(pk=ann.pk).exists()
    assert not LogEntry.objects.filter(object_id=str(ann.pk)).exists()
    # The bystander's rows are all still there.
    assert user_export(user_id=bystander.pk, now=bystander_export["exported_at"]) == (
        bystander_export
    )


def test_verify_invariants_is_clean_after_an_erasure(ann, bystander, capsys):
    user_erase(user_id=ann.pk, now=timezone.now(), reason=None)

    call_command("verify_invariants")

    assert capsys.readouterr().out == "Checked 1 user: every invariant holds.\n"
