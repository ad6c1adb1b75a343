"""Small factory-boy factories for the chat models."""

from datetime import UTC, datetime

import factory

from messages_app.models import Channel, ChatUser, Message


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


class MessageFactory(factory.django.DjangoModelFactory):
    """A bare Message row. Tests of counters and live updates use the write path
    (messages_app.writes.store_batch) instead, which keeps every counter true."""

    class Meta:
        model = Message

    channel = factory.SubFactory(ChannelFactory)
    user = factory.SubFactory(ChatUserFactory)
    text = factory.Sequence(lambda n: f"chat line {n}")
    sent_at = factory.LazyFunction(lambda: datetime.now(UTC))
