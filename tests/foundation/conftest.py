import pytest


@pytest.fixture(autouse=True)
def fast_password_hashing(settings):
    """The staff persona's password costs a second per test with the real hasher."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
