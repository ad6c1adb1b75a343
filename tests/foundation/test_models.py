import pytest
from django.core.exceptions import ValidationError

from messages_app.models import Channel, ChatUser
from messages_app.validators import normalize_login, validate_twitch_login
from tests.factories import ChatUserFactory


@pytest.mark.parametrize("name", ["forsen", "a", "esl_csgo", "x" * 25, "user123"])
def test_it_accepts_twitch_logins(name):
    validate_twitch_login(name)


@pytest.mark.parametrize(
    "name", ["", "Forsen", "#forsen", "two words", "x" * 26, "ümlaut", "a-b", "<script>"]
)
def test_it_rejects_what_is_not_a_twitch_login(name):
    with pytest.raises(ValidationError) as caught:
        validate_twitch_login(name)
    assert caught.value.code == "invalid_login"


def test_it_normalizes_logins():
    assert normalize_login("  #Forsen ") == "forsen"
    assert normalize_login("@XQC") == "xqc"


@pytest.mark.django_db
def test_it_stores_channel_names_lowercase_without_the_hash():
    channel = Channel.objects.create(name=" #ForSen")
    channel.refresh_from_db()
    assert channel.name == "forsen"


@pytest.mark.django_db
def test_it_reports_a_bad_channel_name_on_its_field():
    with pytest.raises(ValidationError) as caught:
        Channel(name="not a channel!").full_clean()
    assert list(caught.value.message_dict) == ["name"]


@pytest.mark.django_db
def test_it_refuses_a_second_channel_with_the_same_name():
    Channel.objects.create(name="forsen")
    with pytest.raises(ValidationError) as caught:
        Channel(name="forsen").full_clean()
    assert "name" in caught.value.message_dict


@pytest.mark.django_db
def test_it_labels_channels_by_display_name_first():
    assert Channel(name="forsen", display_name="Forsen").label == "Forsen"
    assert Channel(name="forsen").label == "forsen"


@pytest.mark.django_db
def test_it_finds_users_by_a_literal_fragment_of_their_name():
    names = ["plain", "a*b", "a?b", "a[b]", "a%b", "a_b", "axb", "ab"]
    for name in names:
        ChatUserFactory(username=name)

    def found(fragment: str) -> set[str]:
        return set(ChatUser.objects.name_contains(fragment).values_list("username", flat=True))

    assert found("*") == {"a*b"}
    assert found("?") == {"a?b"}
    assert found("[b") == {"a[b]"}
    assert found("%") == {"a%b"}
    assert found("_") == {"a_b"}
    assert found("AIN") == {"plain"}  # names are lowercase; the fragment is folded
    assert found("a") == set(names)


@pytest.mark.django_db
def test_the_name_index_finds_what_the_scan_finds_and_follows_changes():
    for name in ["wolfpack", "lonewolf", "wolf_", "w0lf", "cat", "bobcat", "ab", "a*b"]:
        ChatUserFactory(username=name)

    def both(fragment: str) -> set[str]:
        scan = ChatUser.objects.name_contains(fragment).values_list("username", flat=True)
        indexed = ChatUser.objects.name_contains_indexed(fragment).values_list(
            "username", flat=True
        )
        assert set(indexed) == set(scan), fragment
        return set(indexed)

    assert both("wolf") == {"wolfpack", "lonewolf", "wolf_"}
    assert both("WOLF") == {"wolfpack", "lonewolf", "wolf_"}
    assert both("f_") == {"wolf_"}  # two characters: too short for trigrams, scanned
    assert both("lf_") == {"wolf_"}  # `_` is a literal, not LIKE's wildcard
    assert both("cat") == {"cat", "bobcat"}
    assert both("*") == {"a*b"}  # not a login character: scanned
    assert both("zzz") == set()

    ChatUser.objects.filter(username="lonewolf").delete()
    ChatUser.objects.filter(username="cat").update(username="wolfcat")
    ChatUserFactory(username="wolfgang")
    assert both("wolf") == {"wolfpack", "wolf_", "wolfcat", "wolfgang"}
    assert both("cat") == {"wolfcat", "bobcat"}
