from rest_framework import serializers

from events.models import EventType


class EventOutputSerializer(serializers.Serializer):
    id = serializers.UUIDField()
    type = serializers.ChoiceField(choices=EventType.choices)
    created_at = serializers.DateTimeField()
    # A field named like Serializer.data: DRF's metaclass takes declared fields
    # out of the class, so the property is untouched at run time.
    data = serializers.DictField(  # type: ignore[assignment]
        help_text="Always `user_id`; the other keys depend on the type (docs/API.md)."
    )
