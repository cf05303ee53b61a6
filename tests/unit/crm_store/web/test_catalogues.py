"""The page's catalogues are complete: every message the page's code, templates and script use
(extracted afresh, as `make i18n` does) is translated in every language, with each plural form,
nothing fuzzy and the same `%(name)s` placeholders. A page change whose new text is not
translated fails here (run `make i18n`, then translate what it lists)."""

from __future__ import annotations

from babel.messages.catalog import Catalog, Message

from crm_store.web import catalogues
from crm_store.web.i18n import DEFAULT, LOCALES


def test_every_catalogue_has_every_message_of_the_page_translated() -> None:
    template = catalogues.extract()
    assert sum(1 for m in template if m.id) > 200  # the page's text, not an empty extraction
    assert catalogues.check(template) == []


def test_the_languages_are_the_ones_we_promise() -> None:
    assert set(LOCALES) == {"en", "pl", "lv", "lt", "ms", "ta"}
    assert DEFAULT == "en"
    for code in catalogues.TRANSLATED:
        assert catalogues.po_path(code).is_file(), code


def test_extraction_finds_python_templates_and_the_script() -> None:
    ids = {m.id if isinstance(m.id, str) else m.id[0] for m in catalogues.extract() if m.id}
    assert "They called and nobody answered." in ids  # present.py
    assert "Nothing needs you right now." in ids  # inbox.html
    assert "Tried once" in ids  # a plural in _card.html
    assert "The network failed: nothing was changed. Please try again." in ids  # app.js


def entry(catalog: Catalog, message: str | tuple[str, str]) -> Message:
    found = catalog.get(message)
    assert found is not None, message
    return found


def _with(template: Catalog, message: str | tuple[str, str]) -> Catalog:
    grown = Catalog(domain=template.domain)
    for m in template:
        if m.id:
            grown.add(m.id, None, m.locations, flags=m.flags)
    grown.add(message, None, [("web/templates/new.html", 1)])
    return grown


def test_a_new_message_without_translations_is_reported_for_every_language() -> None:
    template = _with(catalogues.extract(), "A button nobody translated yet")
    found = catalogues.check(template)
    assert sorted(found) == sorted(
        f"{code}: missing 'A button nobody translated yet'" for code in catalogues.TRANSLATED
    )


def test_fuzzy_untranslated_and_wrong_placeholders_are_reported() -> None:
    template = catalogues.extract()
    catalog = catalogues.read("pl")
    entry(catalog, "Inbox").flags.add("fuzzy")
    entry(catalog, "Search").string = ""
    entry(catalog, "Taken by %(name)s").string = "Zajmuje się: %(nazwa)s"
    plural = entry(catalog, ("%(num)s contact found.", "%(num)s contacts found."))
    plural.string = ("Znaleziono %(num)s kontakt.", "Znaleziono %(num)s kontakty.")
    found = catalogues.problems(template, "pl", catalog)
    assert "pl: fuzzy 'Inbox'" in found
    assert "pl: untranslated 'Search'" in found
    assert "pl: placeholders of 'Taken by %(name)s' differ: ['nazwa']" in found
    assert "pl: '%(num)s contact found.' has 2 plural forms, wants 3" in found


def test_the_settings_labels_and_help_are_in_the_catalogues() -> None:
    """The admin area shows the shared settings' titles and descriptions through `_`."""
    ids = {m.id for m in catalogues.extract() if isinstance(m.id, str)}
    assert "Short call (seconds)" in ids
    assert "The country national numbers are read in (ISO code, e.g. US, DE, PL)" in ids
