"""Messages as codes with parameters, rendered in French or English at the edge.

A rule that refuses something, a validation problem or a match explanation is a `Message`: a
stable code ("volunteer.not_withdrawable"), its parameters ({"status": "deployed"}) and, as the
string itself, its English text — so logs, exceptions and the API's `message` read as before.
Screens and notifications never parse that text: they call `render_message(code, params,
locale)`, which looks the code up in the Babel catalogs under `shared/translations/` (one .po
file per origin of codes, French and English).

Each service keeps its own codes and English templates in one dict (`Codes`) and builds its
messages with `Codes.message(code, **params)`; the catalog completeness test collects every
dict and renders every code in both languages.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

from shared.i18n import language_of, load_translations

CATALOGS = Path(__file__).resolve().parent / "translations"
UNTRANSLATED = "message.untranslated"  # a text that has no code (shown as it is)
PLURAL = "num"  # the parameter that chooses between an entry's plural forms


class Message(str):
    """An English text that knows its code and parameters (it *is* the English text)."""

    code: str
    params: dict[str, Any]

    def __new__(cls, code: str, template: str, params: Mapping[str, Any] | None = None) -> Message:
        values = dict(params or {})
        self = super().__new__(cls, template % values if values else template)
        self.code = code
        self.params = values
        return self

    def as_dict(self) -> dict[str, Any]:
        """The message as an API body or an event carries it."""
        return {"code": self.code, "params": self.params, "message": str(self)}

    def __reduce__(self) -> tuple[Any, ...]:  # pickling keeps the code (process pools)
        return (_rebuild, (self.code, str(self), self.params))


def _rebuild(code: str, text: str, params: dict[str, Any]) -> Message:
    message = Message(code, "%(text)s", {"text": text})
    message.params = params
    return message


class Count(int):
    """A count put in an English text with its thousands separated (20,000); its value (an int
    in JSON) is what catalogs format in their own language."""

    def __str__(self) -> str:
        return f"{int(self):,}"


class Codes(dict[str, str]):
    """One origin's codes and their English templates (%-style: "No volunteer %(id)s.")."""

    def message(self, code: str, /, **params: Any) -> Message:
        return Message(code, self[code], params)


def untranslated(text: str) -> Message:
    """A text that carries no code: shown as it is in every language."""
    return Message(UNTRANSLATED, "%(text)s", {"text": text})


def coded(text: Any) -> Message:
    """`text` as a Message: itself when it is one, else an untranslated text."""
    return text if isinstance(text, Message) else untranslated(str(text))


ParamLabels = Mapping[str, Callable[[Any], str]]


def render_message(
    code: str,
    params: Mapping[str, Any] | None,
    locale: str,
    labels: ParamLabels | None = None,
) -> str:
    """The message of `code` in `locale` ("fr" or "en"), its parameters put in.

    `labels` turns a parameter's value into words of the same language before it is put in
    (a status code into its label, a number into its local writing); others are put in as
    they are. An unknown code renders as its parameters' `text`, or the code itself."""
    values = dict(params or {})
    for name, label in (labels or {}).items():
        if name in values:
            values[name] = label(values[name])
    catalog = load_translations(CATALOGS, language_of(locale))
    count = (params or {}).get(PLURAL)
    if isinstance(count, int):  # an entry with plural forms, chosen by the count
        template = catalog.ungettext(code, code, count)
    else:
        template = catalog.ugettext(code)
    if template == code:  # not in the catalogs
        return str(values.get("text", code))
    return template % values if "%" in template else template


def leaves(messages: Any, path: tuple[Any, ...] = ()) -> Iterator[tuple[tuple[Any, ...], Any]]:
    """Every message of marshmallow's nested messages, with its path of keys."""
    if isinstance(messages, Mapping):
        for key, value in messages.items():
            yield from leaves(value, (*path, key))
    elif isinstance(messages, list | tuple):
        for message in messages:
            yield from leaves(message, path)
    else:
        yield path, messages
