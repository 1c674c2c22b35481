"""The pages' language: Flask-Babel over the hub's catalogues, and the locale of a request.

A request is in the language of the signed-in person (their choice, else their site's: see
:mod:`wardlink.hub.services.people.language`), or, before anyone signs in, the language every
site shares; else the hub's ``default_locale``. Templates call ``_()`` / ``{% trans %}``; routes
call :func:`flask_babel.gettext`. The catalogues are :mod:`wardlink.hub.i18n`'s, compiled in
memory from the ``.po`` files, so Flask-Babel's own ``.mo`` loading is not used.
"""

from __future__ import annotations

from functools import cached_property

from zoneinfo import ZoneInfo

from flask import Flask, g, has_request_context
from flask_babel import Babel, Domain, get_locale

from wardlink.hub import i18n
from wardlink.hub.errors import HubError, Message
from wardlink.hub.i18n import N_
from wardlink.hub.services import messages
from wardlink.hub.services.people import language
from wardlink.hub.web.db import db
from wardlink.hub.web.state import state


class CatalogueDomain(Domain):
    """The hub's one domain: every area's catalogue of the request's language, merged."""

    def get_translations(self):  # type: ignore[override]
        """Return the catalogues of the request's locale (nothing to translate outside a request)."""
        return i18n.translations(current_locale())


class HubBabel(Babel):
    """Flask-Babel with the hub's catalogues."""

    @cached_property
    def domain_instance(self):  # type: ignore[override]
        """Return the domain every request uses."""
        return CatalogueDomain()


#: What the page scripts (app.js, live.js, files.js) write, translated into the page's
#: ``<meta name="wardlink-messages">``; the scripts look their English text up in it.
JS_MESSAGES = (
    N_("Signed out: reload to sign in"), N_("Offline: retrying"), N_("Stale: no update for %(s)s s"),
    N_("Live"), N_("Stale"), N_("Sensor fault"), N_("Gateway offline"), N_("No data"), N_("never"),
    N_("%(count)s %(unit)s ago"), N_("Time (%(zone)s)"), N_("From (%(zone)s)"), N_("State"), N_("Mean"),
    N_("Min"), N_("Max"), N_("%(n)s points"), N_("No readings in this period"),
    N_("Could not load readings; retrying"), N_("Open at the week's end"), N_("Alerts opened"),
    N_("PM on time"), N_("Online"), N_("Stalled"), N_("Offline"), N_("Unknown"), N_("Gateways now"),
    N_("%(online)s of %(total)s online now"), N_("Nothing to show in this period"),
    N_("Weeks and months in %(zone)s, as of %(time)s."),
    N_("Could not load the trends; reload the page to try again."), N_("Not a number"),
    N_("Outside the limit (below %(limit)s %(unit)s): this item will fail"),
    N_("Outside the limit (above %(limit)s %(unit)s): this item will fail"),
    N_("Within the limits (%(value)s %(unit)s)"), N_("Within the limits"),
    N_("\u2014 signed out; reload the page to sign in again"), N_("\u2014 updated %(time)s"),
    N_("\u2014 update failed, retrying"), N_("work orders"), N_("alerts"), N_("gateways"), N_("week of %(day)s"),
)


def js_messages() -> dict[str, str]:
    """Return the scripts' messages in the request's language (nothing in the source language)."""
    locale = current_locale()
    if locale in (None, i18n.SOURCE_LOCALE):
        return {}
    catalogue = i18n.translations(locale)
    return {message: catalogue.gettext(message) for message in JS_MESSAGES}


def select_locale() -> str:
    """Return the locale of this request (see the module's docstring)."""
    default = state().config.default_locale
    actor = g.get("actor")
    if actor is not None and actor.user_id is not None:
        return language.user_language(db(), actor.user_id, default=default)
    return language.hospital_language(db()) or default


def current_locale() -> str | None:
    """Return the request's locale code ('en', 'fr'), or None outside a request."""
    if not has_request_context():
        return None
    locale = get_locale()
    return None if locale is None else str(locale)


def error_message(error: BaseException | Message, zone: ZoneInfo | None = None) -> str:
    """Return a service error (or a message) as the request's reader reads it: its template in
    their language, filled with its values, each word of the vocabulary (:class:`Term`), each
    number, duration and moment and each message within it as they read it too (moments in
    ``zone``, UTC when None; see :mod:`wardlink.hub.services.messages`). Anything else, or a
    translation whose placeholders do not fit, gives the English text."""
    message = error.message if isinstance(error, HubError) else error
    if not isinstance(message, Message):
        return str(error)
    return messages.render(message, current_locale(), zone)


def init_app(app: Flask) -> None:
    """Attach Flask-Babel, with ``{% trans %}`` blocks trimmed as extraction reads them."""
    app.config.setdefault("BABEL_DEFAULT_LOCALE", i18n.SOURCE_LOCALE)
    HubBabel(app, locale_selector=select_locale)
    app.jinja_env.policies["ext.i18n.trimmed"] = True
    app.jinja_env.globals.update(languages=i18n.LANGUAGES, current_locale=current_locale, js_messages=js_messages)

    @app.before_request
    def _hub_default_locale():
        """Let the services a request calls (notices to people who chose no language) read the
        hub's ``default_locale``."""
        g.default_locale_token = i18n.set_default_locale(state().config.default_locale)

    @app.teardown_request
    def _forget_default_locale(_exc):
        token = g.pop("default_locale_token", None)
        if token is not None:
            i18n.reset_default_locale(token)

    @app.context_processor
    def _default_locale():
        return {"default_locale": state().config.default_locale}
