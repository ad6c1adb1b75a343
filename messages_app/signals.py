"""Signals sent by the write path, always after the transaction commits."""

from django.dispatch import Signal

# Sent once per stored batch with: first_id, last_id (of the messages inserted),
# count, channel_ids, user_ids. Not sent when a batch stored nothing new.
messages_stored = Signal()

# Sent after a channel is added, enabled, disabled or deleted, with channel_id.
channel_changed = Signal()

# Sent after everything stored of an opted-out user was erased, with user_id:
# open pages remove that user's rows (the live `erased` event).
user_erased = Signal()
