"""Small factory-boy factories for the chat models."""

import uuid
from datetime import UTC, datetime

import factory

from messages_app.models import Channel, ChatUser, Message
from messages_app.writes import ChatRecord, store_batch


class ChannelFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Channel
        django_get_or_create = ["name"]

    name = factory.Sequence(lambda n: f"channel{n}")
    enabled = True


class ChatUserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = ChatUser
        django_get_or_create = ["username"]

    username = factory.Sequence(lambda n: f"user{n}")
    display_name = factory.LazyAttribute(lambda u: u.username.capitalize())
    first_seen_at = factory.LazyFunction(lambda: datetime.now(UTC))
    last_seen_at = factory.LazyFunction(lambda: datetime.now(UTC))


class MessageFactory(factory.Factory):
    """A message stored through the write path (store_batch), so every counter,
    bucket and the search index stay true; returns the stored Message."""

    class Meta:
        model = ChatRecord

    channel = factory.Sequence(lambda n: f"channel{n}")
    username = factory.Sequence(lambda n: f"user{n}")
    text = factory.Sequence(lambda n: f"chat line {n}")
    sent_at = factory.LazyFunction(lambda: datetime.now(UTC))
    twitch_id = factory.LazyFunction(lambda: str(uuid.uuid4()))

    @classmethod
    def _create(cls, model_class, *args, **kwargs) -> Message:
        result = store_batch([model_class(*args, **kwargs)])
        return Message.objects.get(pk=result.last_id)
