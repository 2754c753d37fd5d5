"""Parse stage on real mail: public parser corpora, the bundled samples, hand-written desk mail.

tests/fixtures/mime holds hard messages from other projects' parser tests (sources and
licences in its LICENSES.md); tests/fixtures/desk holds mail written for this project.
"""

from __future__ import annotations

import dataclasses
import email
import hashlib
import re
from functools import cache
from importlib.resources import files
from pathlib import Path

import pytest

from pipeline.errors import ParseError
from pipeline.process.parse import ParsedMessage, parse_message

FIXTURES = Path(__file__).parent / "fixtures"
MIME = FIXTURES / "mime"
DESK = FIXTURES / "desk"
SAMPLES = Path(str(files("pipeline.sample_mailbox"))) / "new"
TAG = re.compile(r"<\s*/?\s*[a-zA-Z][a-zA-Z0-9]*(\s[^<>]*)?>")


def corpus() -> list[Path]:
    return sorted(p for p in MIME.rglob("*")
                  if p.is_file() and not p.name.startswith("LICENSE") and p.suffix != ".md")


def mime(name: str) -> ParsedMessage:
    return parse_message((MIME / name).read_bytes())


def desk(name: str) -> ParsedMessage:
    return parse_message((DESK / name).read_bytes())


@cache
def samples() -> dict[str, tuple[bytes, ParsedMessage]]:
    """Every bundled sample by subject (subjects are unique in the sample mailbox)."""
    found = {}
    for path in sorted(SAMPLES.iterdir()):
        raw = path.read_bytes()
        parsed = parse_message(raw)
        found[parsed.subject] = (raw, parsed)
    return found


def sample(subject: str) -> ParsedMessage:
    return samples()[subject][1]


def string_values(parsed: ParsedMessage) -> list[str]:
    values: list[str] = []
    for field in dataclasses.fields(parsed):
        value = getattr(parsed, field.name)
        if isinstance(value, str):
            values.append(value)
        elif isinstance(value, tuple):
            values.extend(v for v in value if isinstance(v, str))
        elif isinstance(value, dict):
            values.extend([*value.keys(), *value.values()])
    values.extend(a.name for a in parsed.attachments)
    return values


# --- every corpus file ---------------------------------------------------------------------

@pytest.mark.parametrize("path", corpus(), ids=lambda p: p.relative_to(MIME).as_posix())
def test_every_corpus_message_parses_into_clean_strings(path):
    parsed = parse_message(path.read_bytes())
    assert parsed.language in {"es", "en", "und"}
    assert parsed.dedupe_key.startswith(("mid:", "sha256:"))
    for value in [parsed.subject, parsed.from_name, parsed.from_addr]:
        assert not re.search(r"[\x00-\x1f\x7f]", value), value
    for attachment in parsed.attachments:
        assert attachment.size >= 0 and attachment.content_type.count("/") == 1
        assert not re.search(r"[\x00-\x1f\x7f]", attachment.name), attachment.name
    assert all("\x00" not in value for value in string_values(parsed))


@pytest.mark.parametrize("path", corpus(), ids=lambda p: p.relative_to(MIME).as_posix())
def test_every_corpus_message_cut_short_is_registered_with_a_note(path):
    raw = path.read_bytes()
    limit = max(1, len(raw) // 3)
    parsed = parse_message(raw, max_bytes=limit)
    assert any(str(len(raw)) in note and str(limit) in note for note in parsed.notes)
    if parsed.message_id is None:  # the cut fell before the Message-ID: dedupe on all bytes
        assert parsed.dedupe_key == "sha256:" + hashlib.sha256(raw).hexdigest()


def test_corpus_covers_the_awkward_cases():
    names = {p.relative_to(MIME).as_posix() for p in corpus()}
    assert len(names) >= 25
    assert max(p.stat().st_size for p in corpus()) > 1_000_000  # one big attachment


# --- headers ---------------------------------------------------------------------------------

def test_iso_8859_1_encoded_subject_and_body_decoded():
    parsed = sample("Solicitud de teléfono móvil nuevo")
    assert parsed.from_name == "Pilar Sánchez Romero"
    assert "pantalla del móvil de empresa" in parsed.text
    assert parsed.language == "es"


def test_windows_1250_encoded_subject_decoded():
    assert mime("php_mime_mail_parser/issue212").subject.startswith(
        "Automatyczna odpowiedź: Piotrze, test z 6 miesięcy")


@pytest.mark.parametrize(("name", "text", "attachments"), [
    ("php_mime_mail_parser/issue116", "toto", []),            # iso-2022-jp bytes it rejects
    ("php_mime_mail_parser/issue149", "", ["attach01"]),      # iso-8859-8-i: unknown to Python
])
def test_undecodable_encoded_word_keeps_the_message(name, text, attachments):
    parsed = mime(name)
    assert parsed.subject  # kept, decoded or as sent
    assert parsed.text == text and [a.name for a in parsed.attachments] == attachments


@pytest.mark.parametrize(("name", "words"), [("php_mime_mail_parser/issue116", "28.09.2016"),
                                             ("php_mime_mail_parser/issue149", "Invoice 02722027")])
def test_undecodable_encoded_word_decoded_as_far_as_possible(name, words):
    subject = mime(name).subject
    assert words in subject and "=?" not in subject


def test_raw_utf8_bytes_in_headers_are_read_as_utf8():
    parsed = mime("flanker/mailformed-headers.eml")
    assert parsed.from_name.startswith("Юникод")
    assert parsed.from_addr == "headers@gmail.com"


def test_raw_latin1_bytes_in_headers_are_read_as_latin1():
    parsed = desk("unknown-charset.eml")
    assert parsed.subject == "Contraseña caducada en el terminal de radiofrecuencia"
    assert parsed.from_name == "Almacén Getafe"


# --- attachments -------------------------------------------------------------------------------

def test_rfc2231_continued_latin1_filename():
    (attachment,) = desk("rfc2231-latin1.eml").attachments
    assert attachment.name == "Informe de errores - nómina de noviembre (revisión).xlsx"
    assert attachment.content_type.endswith("spreadsheetml.sheet")


@pytest.mark.parametrize(("name", "expected"), [
    ("mail_parser/mail_test_5", "mailingassets_d68799cd6301c7f5731a3c42946e528bcb78eb84.jpg"),
    ("php_mime_mail_parser/issue274.eml", "Hello from SwiftMailer.pdf"),
    ("php_mime_mail_parser/m0018", "사진.JPG"),
    ("mime4j/testmsgs/russian-headers.msg", "Список.doc"),
])
def test_encoded_attachment_names_decoded(name, expected):
    assert expected in [a.name for a in mime(name).attachments]


def test_rfc2047_words_inside_a_quoted_filename():
    (attachment,) = mime("mail_parser/mail_test_11").attachments
    assert attachment.name.startswith("Prokuratura Rejonowa Warszawa-Śródmieście północ")
    assert attachment.name.endswith(".pdf")


def test_raw_8bit_utf8_filename():
    (attachment,) = mime("flanker/russian-attachment-yahoo.eml").attachments
    assert attachment.name.startswith("Картинка с очень, очень длинным")
    assert attachment.content_type == "image/png"


def test_control_characters_never_reach_an_attachment_name():
    (attachment,) = mime("php_mime_mail_parser/issue250").attachments
    assert attachment.name == "Kontoutskrift for 1506.14.90466 Bedriftskonto.pdf"


def decoded_sizes(raw: bytes) -> dict[str, int]:
    msg = email.message_from_bytes(raw)
    return {part.get_filename(): len(part.get_payload(decode=True))
            for part in msg.walk() if part.get_filename()}


@pytest.mark.parametrize(("subject", "name", "content_type", "magic"), [
    ("Error message when opening Outlook (screenshot attached)", "outlook-error.png",
     "image/png", "iVBORw0KGgo"),
    ("Solicitud de instalación de Adobe Acrobat Pro (cotización adjunta)",
     "Cotizacion-2026-118-Acrobat-Pro.pdf", "application/pdf", "JVBERi0"),
])
def test_attachments_listed_with_name_type_size_and_kept_out_of_the_text(
        subject, name, content_type, magic):
    raw, parsed = samples()[subject]
    (attachment,) = parsed.attachments
    assert (attachment.name, attachment.content_type) == (name, content_type)
    real = decoded_sizes(raw)[name]
    assert real <= attachment.size <= real * 1.05 + 4  # estimated from the base64 length
    assert magic not in parsed.text and "%PDF" not in parsed.text
    assert parsed.clean_text and name not in parsed.clean_text


def test_big_attachment_is_listed_not_loaded():
    raw = (MIME / "php_mime_mail_parser/m0004").read_bytes()
    parsed = parse_message(raw)
    (attachment,) = parsed.attachments
    assert attachment.size == pytest.approx(decoded_sizes(raw)["attach04"], rel=0.05)
    assert attachment.size > 800_000 and len(parsed.text) < 1_000


# --- bodies ------------------------------------------------------------------------------------

def test_html_only_mail_becomes_readable_text():
    parsed = sample("New starter: account and laptop for Priya Raman (starts 16 Nov)")
    assert parsed.html_only and parsed.content_type == "text/html"
    for words in ("Priya Raman", "Financial Analyst", "Monday 16 November 2026",
                  "Windows laptop with docking station"):
        assert words in parsed.text
    assert not TAG.search(parsed.text)
    assert "border-collapse" not in parsed.text and "&middot;" not in parsed.text


def test_html_only_corpus_mail_has_no_markup_left():
    parsed = mime("flanker/long-links.eml")
    assert parsed.html_only and parsed.text
    assert not TAG.search(parsed.text) and "href=" not in parsed.text


def test_forwarded_message_attachment_is_readable():
    parsed = sample("FW: Your mailbox is almost full - action required")
    assert parsed.forwarded == 1
    assert "Subject: Your mailbox is almost full - action required" in parsed.text
    assert "Your mailbox has reached 98% of its storage quota" in parsed.text
    assert "VALIDATE YOUR ACCOUNT" in parsed.text and not TAG.search(parsed.text)
    assert "is it genuine or is it phishing?" in parsed.clean_text


@pytest.mark.parametrize(("name", "words"), [
    ("flanker/enclosed-broken.eml", "dudes... you're kicking ass"),
    ("cpython/msg_46.txt", "GroupwiseForwardingTest"),
])
def test_forwarded_corpus_messages_are_readable(name, words):
    parsed = mime(name)
    assert parsed.forwarded >= 1 and words in parsed.text


FORWARD_WITH_PDF = b"""\
From: Ana Ruiz <ana.ruiz@example.com>
To: desk@example.org
Subject: Fwd: Factura 118
MIME-Version: 1.0
Content-Type: multipart/mixed; boundary="out"

--out
Content-Type: text/plain; charset=utf-8

Os reenvio la factura del proveedor, que no consigo abrir.
--out
Content-Type: message/rfc822

From: Proveedor <facturas@example.net>
Subject: Factura 118
MIME-Version: 1.0
Content-Type: multipart/mixed; boundary="in"

--in
Content-Type: text/plain; charset=utf-8

Adjuntamos la factura 118.
--in
Content-Type: application/pdf; name="factura-118.pdf"
Content-Disposition: attachment; filename="factura-118.pdf"
Content-Transfer-Encoding: base64

JVBERi0xLjQKJeLjz9MKMSAwIG9iago8PD4+CmVuZG9iagp0cmFpbGVyCjw8Pj4KJSVFT0YK
--in--
--out--
"""


def test_attachments_of_a_forwarded_message_are_listed():
    parsed = parse_message(FORWARD_WITH_PDF)
    assert "Adjuntamos la factura 118." in parsed.text
    assert [a.name for a in parsed.attachments] == ["factura-118.pdf"]


def test_base64_encoded_forwarded_message_is_decoded():
    parsed = mime("mime4j/testmsgs/base64encoded-rfc822message-nested.msg")
    assert "a simple rfc822 message encoded in a base64 body" in parsed.text
    assert "TUlNRS1WZXJzaW9u" not in parsed.text


@pytest.mark.parametrize(("name", "words"), [
    ("flanker/missing-final-boundary.eml", "Some body"),
    ("mime4j/testmsgs/missing-inner-boundary.msg", "Foo"),
    ("mime4j/testmsgs/very-long-boundary.msg", "should be part of the body"),
])
def test_broken_boundaries_keep_the_text_they_have(name, words):
    assert words in mime(name).text


def test_unknown_charset_falls_back_instead_of_failing():
    parsed = desk("unknown-charset.eml")  # charset="unknown-8bit", Latin-1 bytes
    assert '"contraseña caducada"' in parsed.text
    assert "dar de alta la mercancía" in parsed.clean_text
    assert parsed.language == "es"


def test_charset_python_does_not_know_still_gives_text():
    parsed = mime("php_mime_mail_parser/issue230")  # x-mac-cyrillic
    assert "ACADEMIC NEWSLETTER #11" in parsed.text
    assert "Dear Colleague" in parsed.text


def test_line_endings_are_normalised():
    parsed = sample("VPN keeps disconnecting since this morning")  # CRLF, as IMAP delivers
    assert "\r" not in parsed.text and "GlobalProtect" in parsed.text


# --- quoted history and signatures -------------------------------------------------------------

def test_spanish_gmail_reply_keeps_only_the_new_text():
    parsed = sample("Re: Acceso a la carpeta compartida de Compras")
    assert "solo tengo permiso de lectura" in parsed.clean_text
    for gone in ("escribió", "Ya tenés acceso", "¿cómo están?", "Analista de Compras", ">"):
        assert gone not in parsed.clean_text
    assert "Ya tenés acceso" in parsed.text  # the full text keeps the history


def test_spanish_outlook_reply_keeps_only_the_new_text():
    parsed = desk("reply-outlook-es.eml")
    assert "Sigue sin funcionar" in parsed.clean_text
    for gone in ("Enviado:", "Hemos renovado el certificado", "Responsable de Recursos Humanos"):
        assert gone not in parsed.clean_text


@pytest.mark.parametrize(("subject", "kept", "quoted"), [
    ("Re: VPN keeps disconnecting since this morning", "not just the office network",
     "Since about 8am the VPN"),
    ("RE: Printer on 2nd floor jamming", "jams on every double-sided job",
     "An engineer will visit"),
])
def test_english_replies_keep_only_the_new_text(subject, kept, quoted):
    parsed = sample(subject)
    assert kept in parsed.clean_text
    assert quoted not in parsed.clean_text and quoted in parsed.text
    assert "wrote:" not in parsed.clean_text and "Sent:" not in parsed.clean_text


def test_english_gmail_on_wrote_is_stripped():
    parsed = desk("reply-gmail-en.eml")
    assert "Could someone swap the keyboard?" in parsed.clean_text
    assert "replacement docking station" not in parsed.clean_text
    assert "wrote:" not in parsed.clean_text


def test_signature_is_stripped():
    parsed = sample("La impresora de la 3ª planta no imprime")
    assert "código SC542" in parsed.clean_text
    assert "Oficina de Zaragoza" not in parsed.clean_text and "Ext. 4412" not in parsed.clean_text


# --- language ----------------------------------------------------------------------------------

@pytest.mark.parametrize(("subject", "language"), [
    ("La impresora de la 3ª planta no imprime", "es"),                   # Spain
    ("Solicitud de teléfono móvil nuevo", "es"),                         # Spain, ISO-8859-1
    ("No me sincroniza el correo en el celular", "es"),                  # Mexico
    ("¿Dónde encuentro la política de contraseñas del Wi-Fi?", "es"),    # Colombia
    ("¡Muchas gracias por la ayuda!", "es"),                             # Chile, short
    ("Instalación de Power BI Desktop", "es"),                           # Argentina
    ("Alta de usuario para practicante nuevo", "es"),                    # Peru
    ("Respuesta automática: Fuera de la oficina", "es"),
    ("VPN keeps disconnecting since this morning", "en"),
    ("Thanks for the quick fix!", "en"),
    ("How do I set up MFA on my new phone?", "en"),
    ("S: drive has disappeared", "en"),
    ("New starter: account and laptop for Priya Raman (starts 16 Nov)", "en"),
    ("Re: VPN keeps disconnecting since this morning", "en"),
])
def test_language_detected_on_sample_messages(subject, language):
    assert sample(subject).language == language


# --- hostile input -------------------------------------------------------------------------------

def test_oversized_message_registered_with_a_note():
    raw, full = samples()["Error message when opening Outlook (screenshot attached)"]
    parsed = parse_message(raw, max_bytes=2000)
    assert parsed.notes == (f"oversized: {len(raw)} bytes, registered from the first 2000",)
    assert parsed.message_id == full.message_id and parsed.subject == full.subject
    assert parsed.dedupe_key == full.dedupe_key


NUL_MAIL = (
    b"From: Ana\x00 Ruiz <ana.ruiz@example.com>\r\nTo: desk@example.org\r\n"
    b"Subject: La impresora\x00 no imprime\r\nMessage-ID: <nul-1@example.com>\r\n"
    b"MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"b1\"\r\n\r\n"
    b"--b1\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nNo imprime\x00 nada\x00.\r\n"
    b"--b1\r\nContent-Type: text/plain; name=\"log\x00.txt\"\r\n"
    b"Content-Disposition: attachment; filename=\"log\x00.txt\"\r\n\r\nerror\x00\r\n"
    b"--b1\r\nContent-Type: message/rfc822\r\n\r\nFrom: Luis <luis@example.com>\r\n"
    b"Subject: Reenv\x00io\r\nContent-Type: text/html\r\n\r\n<p>Hola\x00 hola</p>\r\n--b1--\r\n")


def test_nul_bytes_removed_everywhere():
    parsed = parse_message(NUL_MAIL)
    assert all("\x00" not in value for value in string_values(parsed))
    assert "No imprime nada." in parsed.text and "Hola hola" in parsed.text
    assert " ".join(parsed.subject.split()) == "La impresora no imprime"


def nested_multipart(depth: int) -> bytes:
    body = b"Content-Type: text/plain; charset=utf-8\r\n\r\nfondo del mensaje\r\n"
    for level in range(depth):
        boundary = f"level{level}".encode()
        body = (b'Content-Type: multipart/mixed; boundary="' + boundary + b'"\r\n\r\n--'
                + boundary + b"\r\n" + body + b"\r\n--" + boundary + b"--\r\n")
    return b"From: a@example.com\r\nSubject: deep\r\nMIME-Version: 1.0\r\n" + body


def nested_forwards(depth: int) -> bytes:
    body = b"From: x@example.com\r\nSubject: fondo\r\n\r\nfondo del mensaje\r\n"
    for level in range(depth):
        body = (f"From: u{level}@example.com\r\nSubject: nivel {level}\r\nMIME-Version: 1.0\r\n"
                "Content-Type: message/rfc822\r\n\r\n").encode() + body
    return body


@pytest.mark.parametrize("build", [nested_multipart, nested_forwards])
@pytest.mark.parametrize("depth", [200, 5000])
def test_deep_nesting_is_a_note_or_a_parse_error_never_a_crash(build, depth):
    try:
        parsed = parse_message(build(depth))
    except ParseError as exc:
        assert "nested" in str(exc)
        return
    assert parsed.subject in ("deep", f"nivel {depth - 1}")


def test_deep_multipart_nesting_parsed_with_a_note():
    parsed = parse_message(nested_multipart(200))
    assert any("nested deeper" in note for note in parsed.notes)


def test_deep_forward_nesting_parsed_with_a_note():
    parsed = parse_message(nested_forwards(200))
    assert any("nested deeper" in note for note in parsed.notes)
