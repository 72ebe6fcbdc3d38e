"""PII redaction (kb.redact): typed placeholders; numbers are checked (Luhn, mod-97) before removal."""

from __future__ import annotations

import pytest

from kb.redact import OffsetMap, find_pii, iban_ok, luhn_ok, redact, redact_many


@pytest.fixture(scope="module")
def nlp(base_config):
    from kb.text import load_spacy

    return load_spacy(base_config.spacy_model, full=True)


def test_luhn_and_mod97():
    assert luhn_ok("4111111111111111") and not luhn_ok("4111111111111112")
    assert iban_ok("GB82WEST12345698765432") and not iban_ok("GB82WEST12345698765433")


def test_cards_that_pass_luhn_are_redacted_and_others_left_alone():
    text = "Card 4111 1111 1111 1111, or 4111-1111-1111-1112, order 40388126, ends 2291."
    out, found = redact(text)
    assert out == "Card [CARD], or 4111-1111-1111-1112, order 40388126, ends 2291."
    assert [(f.type, text[f.start:f.end]) for f in found] == [("card", "4111 1111 1111 1111")]


def test_email_phone_iban():
    text = ("Mail jo.bloggs+x@example.co.uk, call 07700 900123 or +44 20 7946 0018; "
            "IBAN GB82 WEST 1234 5698 7654 32 and GB82 WEST 1234 5698 7654 33; date 2026-09-02")
    out, found = redact(text)
    assert out == ("Mail [EMAIL], call [PHONE] or [PHONE]; IBAN [IBAN] and GB82 WEST 1234 5698 7654 33; "
                   "date 2026-09-02")
    assert [f.type for f in found] == ["email", "phone", "phone", "iban"]


def test_reference_numbers_are_not_phone_numbers():
    out, found = redact("Your order BC-40388126 and reference 0123456789 are noted; it costs 349.99.")
    assert not found and "0123456789" in out


def test_names_from_ner_and_self_introductions(nlp):
    text = "Thanks, my name's Amara. It's Kieran Walsh calling about order 12."
    out, found = redact(text, nlp)
    assert "Amara" not in out and "Kieran" not in out and "Walsh" not in out
    assert out.count("[NAME]") == 2
    assert all(f.type == "name" for f in found)


def test_without_nlp_no_names_are_searched_except_introductions():
    out, _ = redact("Kieran Walsh paid with 4111111111111111")
    assert out == "Kieran Walsh paid with [CARD]"


def test_a_name_found_once_is_redacted_everywhere_and_keep_words_stay(nlp):
    texts = ["Hi, you're through to Priya at Brightcart.", "Thanks Priya!", "I love Brightcart"]
    res = redact_many(texts, nlp, keep=["Brightcart"])
    assert [r[0] for r in res] == ["Hi, you're through to [NAME] at Brightcart.", "Thanks [NAME]!", "I love Brightcart"]


def test_offset_map_points_into_the_redacted_text():
    text = "Email jo@example.com now, then call 07700 900123 please"
    out, found = redact(text)
    m = OffsetMap(found)
    a = text.index("now")
    s, e = m.span(a, a + 3)
    assert out[s:e] == "now"
    # a span touching a redacted region is widened to the whole placeholder
    s, e = m.span(text.index("example"), text.index("now") + 3)
    assert out[s:e] == "[EMAIL] now"
    s, e = m.span(0, len(text))
    assert out[s:e] == out


def test_find_pii_types_filter():
    assert [f.type for f in find_pii("a@b.co 4111111111111111", types=["email"])] == ["email"]


def test_full_uk_postcodes_are_redacted_labelled_or_not():
    text = "It's BR7 3QT. Old one was SW1A 1AA, and before that postcode LS62AB."
    out, found = redact(text)
    assert out == "It's [POSTCODE]. Old one was [POSTCODE], and before that postcode [POSTCODE]."
    assert {f.type for f in found} == {"postcode"}


def test_codes_that_break_the_postcode_rules_stay():
    # inward letters C I K M O V never occur; Q V X never start an area; lower case is not a written postcode
    text = "SKU AB12 3CD, model HD1 4KG, ref QA1 2BB, item A1 2BC, ls6 2ab"
    assert redact(text)[0] == text


# (text, what is stored, language): street addresses, what must never be kept, numbers read out
REDACTED = [
    ("yep, 14 Albion Street, LS2 8JF, that's validated.", "yep, [ADDRESS], [POSTCODE], that's validated.", "en"),
    ("7 Kelvin Drive, Glasgow, G20 8QG", "[ADDRESS], Glasgow, [POSTCODE]", "en"),
    ("Send it to Flat 3, 27b Kelvin Drive please", "Send it to [ADDRESS] please", "en"),
    ("221B Baker St. London NW1 6XE", "[ADDRESS] London [POSTCODE]", "en"),
    ("it's fourteen albion street leeds", "it's [ADDRESS] leeds", "en"),  # lower case, the number in words
    ("flat two, twenty seven kelvin drive", "[ADDRESS]", "en"),
    ("yes it's one hundred and twelve church lane", "yes it's [ADDRESS]", "en"),
    ("14 albion street", "[ADDRESS]", "en"),
    ("the CVV is 123, and the expiry 04/27", "the CVV is [SECRET], and the expiry 04/27", "en"),
    ("PIN code: 4821.", "PIN code: [SECRET].", "en"),
    ("security code 987 on the back", "security code [SECRET] on the back", "en"),
    ("Please can you put new password Summer2025 for him", "Please can you put new password [SECRET] for him", "en"),
    ("sort code 20-00-00, account number 12345678", "sort code [BANK_ACCOUNT], account number [BANK_ACCOUNT]", "en"),
    ("bank account number 12345678", "bank account number [BANK_ACCOUNT]", "en"),
    ("NI number JT 12 34 56 B", "NI number [NATIONAL_ID]", "en"),
    ("SSN 123-45-6789", "SSN [NATIONAL_ID]", "en"),
    ("passport number 123456789", "passport number [NATIONAL_ID]", "en"),
    ("my card number is four one one one one one one one one one one one one one one one", "my card number is [CARD]",
     "en"),
    ("four one one one, one one one one, one one one one, one one one one", "[CARD]", "en"),
    ("my number is oh seven seven double oh nine double oh one two three", "my number is [PHONE]", "en"),
    ("the three digits on the back are seven three seven", "the three digits on the back are [SECRET]", "en"),
    ("and the three digits on the back are 7 3 7", "and the three digits on the back are [SECRET]", "en"),
    ("PIN is four eight two one", "PIN is [SECRET]", "en"),
    ("meine Nummer ist null eins sieben eins zwei drei vier fünf sechs sieben acht", "meine Nummer ist [PHONE]", "de"),
    ("kart numaram dört bir bir bir bir bir bir bir bir bir bir bir bir bir bir bir", "kart numaram [CARD]", "tr"),
]
# (text, language): the same words where they are no one's data
KEPT = [
    ("I waited 3 days for the Royal Mail", "en"), ("We have 24 Hour Support Lines", "en"),
    ("the courier left it on Albion Street", "en"), ("three miles down the road", "en"),
    ("two doors up the street", "en"), ("the depot is five minutes up the road", "en"),
    ("I live on a one way street", "en"), ("it was two main road junctions", "en"),
    ("my password is expired", "en"), ("the password reset link never arrived", "en"), ("I need a new PIN", "en"),
    ("password-reset;sign-in,chat,2026-11-13T07:44:09Z", "en"),
    ("account number 40388126 (no sort code: a reference with us)", "en"), ("order number 40388126", "en"),
    ("the security code was 12.50 cheaper", "en"), ("your case number is AB123456", "en"),
    ("I have one or two questions about order one two three four five six", "en"),
    ("it is seven o clock and I called three times", "en"),
    ("four one one one one one one one one one one one one one one two", "en"),  # fails the Luhn check
    ("the last four digits are 4 2 4 2", "en"), ("bir iki üç dört beş altı numaralı sipariş", "tr"),
]


@pytest.mark.parametrize("text, want, language", REDACTED)
def test_addresses_secrets_and_numbers_read_out_are_redacted(text, want, language):
    assert redact(text, language=language)[0] == want


@pytest.mark.parametrize("text, language", KEPT)
def test_the_same_words_stay_where_they_are_no_one_s_data(text, language):
    assert redact(text, language=language)[0] == text


def test_each_kind_has_its_type():
    assert {f.type for f in redact("CVV 123, sort code 20-00-00, 14 Albion Street")[1]} == \
        {"secret", "bank_account", "address"}
