"""Exceptions raised by the hub.

A hub error's message is written for people, who may not read English. It is an English
template marked for the catalogues with :func:`wardlink.hub.i18n.N_`, and the values it names::

    raise InvalidInput(N_("%(field)s: must be a number, got %(value)r"), field=name, value=raw)

``str(exc)`` is the English text (logs, the CLI, the JSON API's ``error.message``); a page
shows :func:`wardlink.hub.web.i18n.error_message`, the template in the reader's language with
the same values. A value that is itself a message (a :class:`Message`, another hub error)
is shown in the reader's language too, and so is a :class:`Term`, a word of the vocabulary
(a state, a role); other values (tags, numbers, what someone typed) are shown as they are.
"""

from __future__ import annotations

from wardlink.errors import WardlinkError


class Term(str):
    """A value of a message that is a word of the vocabulary (``in_progress``, ``technician``).

    The English text shows ``text`` (the stored value itself unless given, e.g. its label);
    a page shows the value's label in the reader's language, lower-cased unless ``text``
    starts with a capital."""

    key: str

    def __new__(cls, key: str, text: str | None = None) -> Term:
        term = super().__new__(cls, key if text is None else text)
        term.key = key
        return term


class Message:
    """An English template (marked with ``N_``) and the values of its ``%(name)s`` placeholders."""

    __slots__ = ("template", "values")

    def __init__(self, template: str, /, **values: object) -> None:
        self.template = template
        self.values = values

    def __str__(self) -> str:
        return str(self.template) % self.values if self.values else str(self.template)

    def __repr__(self) -> str:
        return f"Message({str(self)!r})"


class HubError(WardlinkError):
    """Root of hub errors: see the module's docstring for the message and its values."""

    def __init__(self, message: str | Message = "", /, **values: object) -> None:
        self.message = message if isinstance(message, Message) else Message(message, **values)
        super().__init__(str(self.message))


class ConfigError(HubError, ValueError):
    """A setting is missing or has a value that is not allowed; the message names the key."""


class StoreError(HubError, OSError):
    """A telemetry or relational store could not be reached or refused a write."""


class PermissionDenied(HubError, PermissionError):
    """The acting user's role does not allow this action."""


class NotFound(HubError, LookupError):
    """The requested entity does not exist."""


class InvalidInput(HubError, ValueError):
    """Input data was rejected; the message says which field and why."""
