"""The page's message catalogues: extract every message (Python `_`/`N_`/`ngettext`, templates'
`_`/`ngettext`, the script's `t`) into `locale/messages.pot`, bring each language's
`messages.po` up to date with it, and check that every catalogue is complete.

    python -m crm_store.web.catalogues            # extract and update (`make i18n`)
    python -m crm_store.web.catalogues --check    # exit 1 and list what is missing

A catalogue is complete when every extracted message is translated (each plural form), nothing
is fuzzy, and each translation uses the same `%(name)s` placeholders as its message.
"""

from __future__ import annotations

import argparse
import io
import re
import sys
from collections.abc import Iterable
from pathlib import Path

from babel import Locale
from babel.messages.catalog import Catalog, Message
from babel.messages.extract import extract_from_dir
from babel.messages.frontend import parse_mapping_cfg
from babel.messages.plurals import get_plural
from babel.messages.pofile import read_po, write_po

from crm_store.web.i18n import DEFAULT, DOMAIN, LOCALE_DIR, LOCALES
from switchboard_shared.settings.groups import GROUPS

WEB_DIR = Path(__file__).parent
TEMPLATE = LOCALE_DIR / f"{DOMAIN}.pot"
MAPPING = LOCALE_DIR / "babel.cfg"
KEYWORDS = {"_": None, "N_": None, "gettext": None, "ngettext": (1, 2), "t": None}
PLACEHOLDER = re.compile(r"%\((\w+)\)[sd]")
TRANSLATED = tuple(code for code in LOCALES if code != DEFAULT)


def extract() -> Catalog:
    """Every message of the page's code, templates and script, as a template catalogue."""
    catalog = Catalog(project="Switchboard", version="1", domain=DOMAIN, charset="utf-8")
    catalog.header_comment = HEADER_COMMENT.format(language="message template")
    catalog.msgid_bugs_address = ""
    with MAPPING.open() as fh:
        methods, options = parse_mapping_cfg(fh, filename=str(MAPPING))  # type: ignore[no-untyped-call]
    for filename, lineno, message, comments, context in extract_from_dir(
        WEB_DIR, methods, options, KEYWORDS, strip_comment_tags=True
    ):
        catalog.add(
            message,
            None,
            [(str(Path("web") / filename), lineno)],
            auto_comments=comments,
            context=context,
        )
    for message, location in settings_messages():
        catalog.add(message, None, [(location, 0)])
    for entry in catalog:
        if entry.id and PLACEHOLDER.search(_ids(entry)[0]):
            entry.flags.add("python-format")
    return catalog


def settings_messages() -> list[tuple[str, str]]:
    """The settings' labels and help (data of the shared settings groups, which the admin area
    shows through `_`)."""
    found = []
    for group, model in GROUPS.items():
        for name, info in model.model_fields.items():
            for text in (info.title, info.description):
                if text:
                    found.append((text, f"switchboard_shared/settings/groups.py:{group}.{name}"))
    return found


def _ids(message: Message) -> tuple[str, ...]:
    return (message.id,) if isinstance(message.id, str) else tuple(message.id)


def _strings(message: Message) -> tuple[str, ...]:
    if isinstance(message.string, str):
        return (message.string,)
    return tuple(message.string or ())


def po_path(code: str) -> Path:
    return LOCALE_DIR / code / "LC_MESSAGES" / f"{DOMAIN}.po"


def read(code: str) -> Catalog:
    path = po_path(code)
    if not path.is_file():
        return Catalog(locale=code, domain=DOMAIN, project="Switchboard", charset="utf-8")
    with path.open("rb") as fh:
        return read_po(fh, locale=code, domain=DOMAIN)


HEADER_COMMENT = """\
# The managers' page of Switchboard: {language}.
# Extracted and updated with `make i18n`; translate every entry it lists as missing."""
DATED = re.compile(rb'^"(POT-Creation-Date|PO-Revision-Date): .*\n', re.MULTILINE)


def write(path: Path, catalog: Catalog) -> None:
    """Write the catalogue, unless only its dates would change (no noise in the history)."""
    buffer = io.BytesIO()
    write_po(buffer, catalog, width=100, sort_output=False, include_lineno=False)
    text = buffer.getvalue()
    if path.is_file() and DATED.sub(b"", path.read_bytes()) == DATED.sub(b"", text):
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(text)


def _header(catalog: Catalog, code: str) -> None:
    language = Locale.parse(code).get_display_name("en") or code
    catalog.header_comment = HEADER_COMMENT.format(language=language)
    catalog.fuzzy = False
    catalog.project = "Switchboard"
    catalog.version = "1"
    catalog.msgid_bugs_address = ""
    catalog.last_translator = "Switchboard <translations@switchboard.invalid>"
    catalog.language_team = f"{language} <translations@switchboard.invalid>"


def update() -> Catalog:
    """Write the template and bring every language's catalogue up to it: new messages come in
    untranslated (never guessed from a similar one), gone ones are dropped."""
    template = extract()
    write(TEMPLATE, template)
    for code in TRANSLATED:
        catalog = read(code)
        catalog.update(template, no_fuzzy_matching=True, update_header_comment=False)
        catalog.obsolete.clear()
        _header(catalog, code)
        write(po_path(code), catalog)
    return template


def problems(template: Catalog, code: str, catalog: Catalog) -> list[str]:
    """What keeps a language's catalogue from being complete for this template."""
    found = []
    rule = get_plural(code)
    count = catalog.num_plurals
    if catalog.fuzzy:
        found.append(f"{code}: the header is marked fuzzy")
    if (count, catalog.plural_expr) != (rule.num_plurals, rule.plural_expr):
        found.append(f"{code}: the plural forms in the header are not the language's ({rule})")
    for wanted in template:
        if not wanted.id:
            continue
        key = _ids(wanted)[0]
        message = catalog.get(wanted.id, context=wanted.context)
        if message is None:
            found.append(f"{code}: missing {key!r}")
            continue
        if message.fuzzy:
            found.append(f"{code}: fuzzy {key!r}")
        strings = _strings(message)
        if wanted.pluralizable and len(strings) != count:
            found.append(f"{code}: {key!r} has {len(strings)} plural forms, wants {count}")
        if not strings or not all(s.strip() for s in strings):
            found.append(f"{code}: untranslated {key!r}")
            continue
        expected = _placeholders(_ids(wanted)) - {"num"}
        for text in strings:
            used = set(PLACEHOLDER.findall(text))
            if used - {"num"} != expected or ("num" in used and not wanted.pluralizable):
                found.append(f"{code}: placeholders of {key!r} differ: {sorted(used)}")
    return found


def _placeholders(texts: Iterable[str]) -> set[str]:
    return {name for text in texts for name in PLACEHOLDER.findall(text)}


def check(template: Catalog | None = None) -> list[str]:
    template = template or extract()
    return [p for code in TRANSLATED for p in problems(template, code, read(code))]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="only check, change nothing")
    args = parser.parse_args(argv)
    template = extract() if args.check else update()
    missing = check(template)
    for line in missing:
        print(line, file=sys.stderr)
    total = sum(1 for m in template if m.id)
    print(f"{total} messages, {len(TRANSLATED)} languages, {len(missing)} problems")
    return 1 if missing else 0


if __name__ == "__main__":
    sys.exit(main())
