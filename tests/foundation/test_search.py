import pytest

from messages_app.models import Message
from messages_app.search import matching
from tests.conftest import chat

HOSTILE = [
    '"',
    "AND(",
    "*",
    "NEAR(a b)",
    "a:* & b",
    "!!&|",
    "'",
    "-",
    "OR",
    "(",
    "\\",
    "日本語",
    "😂",
    "\x00",
    "NOT",
    "text:",
    "^",
    '""""',
    "-hello",
    "%",
    "' OR 1=1 --",
    "; DROP TABLE messages_app_message; --",
    "NEAR(",
    "*" * 500,
    "(" * 200,
    "\ud800",
]
# Punctuation and query syntax around a real word: the word is still found.
WRAPPED = [
    "hello)", "(hello", '"hello', 'hello"', "^hello", "hello%", "hello'", "*hello", "hello\x00",
]  # fmt: skip


@pytest.fixture
def messages(db, store):
    store(chat(text="hello world"), chat(text="hello again"), chat(text="good night"))
    return Message.objects.all()


def test_it_finds_words(messages):
    assert matching(messages, "hello").count() == 2


def test_it_finds_phrases(messages):
    assert [m.text for m in matching(messages, '"hello world"')] == ["hello world"]


def test_it_finds_prefixes(messages):
    assert matching(messages, "hel*").count() == 2


def test_it_excludes_negated_terms(messages):
    assert [m.text for m in matching(messages, "hello -world")] == ["hello again"]


@pytest.mark.parametrize("query", HOSTILE)
def test_it_never_fails_on_hostile_queries(messages, query):
    assert list(matching(messages, query)) == []


@pytest.mark.parametrize("query", WRAPPED)
def test_it_finds_words_wrapped_in_query_syntax(messages, query):
    assert sorted(m.text for m in matching(messages, query)) == ["hello again", "hello world"]


def test_it_treats_operators_as_words(messages, store):
    store(chat(text="this is NOT fine"))
    assert [m.text for m in matching(messages, "not fine")] == ["this is NOT fine"]


def test_it_ignores_everything_past_the_length_limit(messages):
    # "night" sits past the limit: were it read, "hello AND night" would find nothing.
    assert matching(messages, "hello" + " " * 10_000 + "night").count() == 2


PHRASE_TEXTS = [
    "new world record",
    "record the world",
    "the world and the record",
    "World: record!",
    "pog_champ",
    "POG champion",
    "champ pog",
    "I don't know",
    "don tell t",
]


@pytest.mark.parametrize(
    ("query", "found"),
    [
        ('"world record"', ["new world record", "World: record!"]),
        ('record -"world record"', ["record the world", "the world and the record"]),
        ("pog_champ", ["pog_champ"]),
        ("pog_cha*", ["pog_champ", "POG champion"]),
        ("don't", ["I don't know"]),
        ('"world record" -new', ["World: record!"]),
    ],
)
def test_phrases_need_their_words_side_by_side(db, store, query, found):
    """Lines that hold every word of a phrase, but apart or in another order,
    are not results; punctuation between them does not part them, and a word
    the tokenizer cuts in two (an underscore, an apostrophe) is a phrase."""
    store(*[chat(text=text) for text in PHRASE_TEXTS])
    assert sorted(m.text for m in matching(Message.objects.all(), query)) == sorted(found)
