"""The pages' language: Flask-Babel over the hub's catalogues, and the locale of a request.

A request is in the language of the signed-in person (their choice, else their site's: see
:mod:`wardlink.hub.services.people.language`), or, before anyone signs in, the language every
site shares; else the hub's ``default_locale``. Templates call ``_()`` / ``{% trans %}``; routes
call :func:`flask_babel.gettext`. The catalogues are :mod:`wardlink.hub.i18n`'s, compiled in
memory from the ``.po`` files, so Flask-Babel's own ``.mo`` loading is not used.
"""

from __future__ import annotations

from functools import cached_property

from flask import Flask, g, has_request_context
from flask_babel import Babel, Domain, get_locale

from wardlink.hub import i18n
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


def init_app(app: Flask) -> None:
    """Attach Flask-Babel, with ``{% trans %}`` blocks trimmed as extraction reads them."""
    app.config.setdefault("BABEL_DEFAULT_LOCALE", i18n.SOURCE_LOCALE)
    HubBabel(app, locale_selector=select_locale)
    app.jinja_env.policies["ext.i18n.trimmed"] = True
    app.jinja_env.globals.update(languages=i18n.LANGUAGES, current_locale=current_locale)

    @app.context_processor
    def _default_locale():
        return {"default_locale": state().config.default_locale}
