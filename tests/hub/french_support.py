"""Finding English left on a French page: the English messages of the catalogues that French
writes differently, and the texts a reader sees in a page's HTML (the server-side walk; the
browser walk reads the same texts from the rendered page)."""

from __future__ import annotations

import html
import re
from html.parser import HTMLParser

from wardlink.hub import i18n
from wardlink.hub.i18n import catalogues

#: Elements whose text nobody reads as the page's words.
SKIPPED = frozenset({"script", "style", "template", "code", "pre", "textarea"})
#: Attributes read aloud or shown as tips.
READ_ATTRIBUTES = ("placeholder", "title", "aria-label")
_VOID = frozenset({"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "track",
                   "wbr"})


def _plain(message: str) -> str:
    return " ".join(html.unescape(re.sub(r"<[^>]+>", "", message)).replace("%%", "%").split())


def english() -> tuple[set[str], list[re.Pattern]]:
    """Return the English messages French writes differently (and that are not French words
    too, as "Services" is): plain texts, and patterns for messages with values."""
    plain, patterns = set(), []
    messages = [m for path in i18n.catalogue_files("fr")
                for m in catalogues.read(path.parent.parent.parent.name, "fr") if m.id and isinstance(m.id, str)]
    french = {_plain(m.string) for m in messages}
    for message in messages:
        if message.string == message.id:
            continue
        text = _plain(message.id)
        if text in french:
            continue
        if "%(" not in text:
            plain.add(text)
        elif len(re.sub(r"%\(\w+\)s|\W", "", text)) >= 6:
            parts = re.split(r"%\(\w+\)s", text)
            patterns.append(re.compile(".+".join(re.escape(p) for p in parts)))
    return plain, patterns


class PageTexts(HTMLParser):
    """The texts of an HTML page a reader sees: text nodes, tips and labels, and the title."""

    def __init__(self) -> None:
        super().__init__()
        self.texts: list[str] = []
        self._open: list[str] = []
        self._title = False

    def handle_starttag(self, tag, attrs):
        values = dict(attrs)
        self.texts += [values[name] or "" for name in READ_ATTRIBUTES if name in values]
        if tag == "title":
            self._title = True
        if tag not in _VOID:
            self._open.append(tag)

    def handle_endtag(self, tag):
        if tag in self._open:
            while self._open.pop() != tag:
                pass
        if tag == "title":
            self._title = False

    def handle_data(self, data):
        if self._title:
            self.texts += data.split(" · ")
        elif not SKIPPED.intersection(self._open):
            self.texts.append(data)


def texts_of(page: str) -> list[str]:
    """Return the texts of HTML ``page``, each with its white space collapsed."""
    parser = PageTexts()
    parser.feed(page)
    return [t for t in (" ".join(text.split()) for text in parser.texts) if t]


def untranslated(texts: list[str], *, names: set[str] = frozenset()) -> list[str]:
    """Return the texts that are English messages (``names``, people's names, are data)."""
    plain, patterns = english()
    return sorted({t for t in texts if t not in names and (t in plain or any(p.fullmatch(t) for p in patterns))})
