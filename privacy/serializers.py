"""The erasure's input, and the export document as OpenAPI describes it (the
document itself is rendered by ``privacy.services.export_document``, the same
JSON for the API and ``export_user``)."""

from rest_framework import serializers

from base.serializers import StrictInputSerializer
from engagement.serializers import StateNumbersSerializer


class MeEraseInputSerializer(StrictInputSerializer):
    password = serializers.CharField(
        max_length=128, trim_whitespace=False, help_text="The account's current password."
    )


class ExportProfileSerializer(serializers.Serializer):
    id = serializers.UUIDField()
    email = serializers.EmailField()
    display_name = serializers.CharField()
    timezone = serializers.CharField()
    timezone_changed_at = serializers.DateTimeField(allow_null=True)
    date_joined = serializers.DateTimeField()
    last_login = serializers.DateTimeField(allow_null=True)
    is_active = serializers.BooleanField()
    is_staff = serializers.BooleanField()


class ExportStateSerializer(StateNumbersSerializer):
    last_checkin_date = serializers.DateField(allow_null=True)
    lost_streak = serializers.IntegerField()
    streak_lost_on = serializers.DateField(allow_null=True)
    updated_at = serializers.DateTimeField()


class ExportCheckinSerializer(serializers.Serializer):
    date = serializers.DateField(help_text="The user's local date.")
    streak = serializers.IntegerField()
    freezes_used = serializers.IntegerField()
    created_at = serializers.DateTimeField()


class ExportRewardSerializer(serializers.Serializer):
    reward_id = serializers.CharField()
    reward__title = serializers.CharField()
    unlocked_at = serializers.DateTimeField()
    claimed_at = serializers.DateTimeField(allow_null=True)


class ExportInventorySerializer(serializers.Serializer):
    tool_id = serializers.CharField()
    tool__name = serializers.CharField()
    quantity = serializers.IntegerField()
    updated_at = serializers.DateTimeField()


class ExportLedgerSerializer(StateNumbersSerializer):
    """One ledger entry: its applied deltas in the state's number fields."""

    id = serializers.IntegerField()
    created_at = serializers.DateTimeField()
    kind = serializers.CharField()
    ref = serializers.CharField()
    reason = serializers.CharField()
    state_after = serializers.DictField(help_text="The state after this entry.")


class ExportIdempotencyKeySerializer(serializers.Serializer):
    key = serializers.CharField()
    status_code = serializers.IntegerField(allow_null=True)
    created_at = serializers.DateTimeField()


class ExportGroupSerializer(serializers.Serializer):
    name = serializers.CharField()


class ExportPermissionSerializer(serializers.Serializer):
    app_label = serializers.CharField()
    codename = serializers.CharField()


class ExportAdminLogSerializer(serializers.Serializer):
    action_time = serializers.DateTimeField()
    action_flag = serializers.IntegerField(help_text="1 added, 2 changed, 3 deleted.")
    app_label = serializers.CharField(allow_null=True)
    model = serializers.CharField(allow_null=True)


class ExportRefreshTokenSerializer(serializers.Serializer):
    jti = serializers.CharField()
    created_at = serializers.DateTimeField(allow_null=True)
    expires_at = serializers.DateTimeField()
    blacklisted_at = serializers.DateTimeField(allow_null=True)


class ExportOutputSerializer(serializers.Serializer):
    """Every row about the caller, one key per kind of row."""

    format_version = serializers.IntegerField()
    exported_at = serializers.DateTimeField()
    user = ExportProfileSerializer()
    state = ExportStateSerializer(allow_null=True)
    checkins = ExportCheckinSerializer(many=True)
    rewards = ExportRewardSerializer(many=True)
    inventory = ExportInventorySerializer(many=True)
    ledger = ExportLedgerSerializer(many=True)
    idempotency_keys = ExportIdempotencyKeySerializer(
        many=True, help_text="The caller's Idempotency-Keys (the responses are not included)."
    )
    groups = ExportGroupSerializer(many=True)
    permissions = ExportPermissionSerializer(many=True)
    admin_log = ExportAdminLogSerializer(
        many=True, help_text="Staff accounts: their own actions in the admin."
    )
    refresh_tokens = ExportRefreshTokenSerializer(
        many=True, required=False, help_text="Issued refresh tokens (ids, never the tokens)."
    )
