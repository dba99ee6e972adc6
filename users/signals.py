"""Signals of the accounts' use cases."""

from django.dispatch import Signal

# Sent by ``users.services.user_update_profile`` when the user's
# ``leaderboard_opt_in`` changed, inside its transaction, under the user's
# state lock, after both the flag and the state row's copy are written.
# Arguments: ``user_id``, ``opt_in`` (the new value), ``locked`` (the
# ``engagement.statements.LockedUser`` the lock read).
leaderboard_opt_in_changed = Signal()
