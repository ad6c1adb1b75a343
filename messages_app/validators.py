import re

from django.core.exceptions import ValidationError

# Twitch logins: 1-25 characters, letters, digits and underscores. Twitch itself
# requires 4+ for new accounts, but older and system accounts are shorter.
TWITCH_LOGIN_RE = re.compile(r"^[a-z0-9_]{1,25}$")


def normalize_login(value: str) -> str:
    """Lowercase a channel or user login and strip a leading '#' or '@'."""
    return value.strip().lstrip("#@").lower()


def validate_twitch_login(value: str) -> None:
    if not TWITCH_LOGIN_RE.fullmatch(value or ""):
        raise ValidationError(
            "%(value)r is not a Twitch login: use 1-25 lowercase letters, digits or underscores.",
            code="invalid_login",
            params={"value": value},
        )
