"""Serializer building blocks shared by every app's API."""

from collections.abc import Mapping

from rest_framework import serializers


class StrictInputSerializer(serializers.Serializer):
    """An input serializer that rejects fields it does not declare (a typo in a
    client never passes silently) and values of the wrong JSON type (DRF would
    otherwise turn ``5`` into ``"5"`` or ``"5"`` into ``5``)."""

    def to_internal_value(self, data):
        if isinstance(data, Mapping):
            errors: dict[str, list[str]] = {}
            for name in sorted(set(data) - set(self.fields)):
                errors[name] = ["Unknown field."]
            for name, field in self.fields.items():
                value = data.get(name)
                if value is None or field.read_only:
                    continue
                if isinstance(field, serializers.CharField) and not isinstance(value, str):
                    errors[name] = ["Must be a string."]
                elif isinstance(field, serializers.CharField) and (
                    field.max_length is not None and len(value) > field.max_length
                ):
                    # Checked before DRF trims whitespace, so the documented
                    # maxLength holds for what the client sent.
                    errors[name] = [
                        f"Ensure this field has no more than {field.max_length} characters."
                    ]
                elif isinstance(field, serializers.BooleanField) and not isinstance(value, bool):
                    errors[name] = ["Must be true or false."]
                elif isinstance(field, serializers.IntegerField) and (
                    isinstance(value, bool) or not isinstance(value, int)
                ):
                    errors[name] = ["Must be an integer."]
            if errors:
                raise serializers.ValidationError(errors)
        return super().to_internal_value(data)


class ProblemSerializer(serializers.Serializer):
    """RFC 9457 problem details, as every error response carries them."""

    type = serializers.CharField()
    title = serializers.CharField()
    status = serializers.IntegerField()
    detail = serializers.CharField()
    code = serializers.CharField()
    request_id = serializers.CharField(
        help_text="The id of the request that produced this problem (its X-Request-ID). "
        "In a replayed answer (Idempotent-Replayed: true) it is the original request's id, "
        "while the X-Request-ID header names the replaying request."
    )
    # Named like Serializer.errors: DRF's metaclass takes declared fields off the
    # class, so the property stays; the stubs cannot know.
    errors = serializers.DictField(  # type: ignore[assignment]
        child=serializers.ListField(child=serializers.CharField()), required=False
    )
