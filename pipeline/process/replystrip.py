"""Strip quoted history and signatures, knowing Spanish and English reply markers.

mail-parser-reply recognises "On ... wrote:", "El ... escribió:", Outlook's
"From:/Sent:" and "De:/Enviado:" blocks and common sign-offs. When it finds nothing
to keep (a reply that is all quote), the full text is kept: losing the user's words
is worse than keeping some history.
"""

from __future__ import annotations

from mailparser_reply import EmailReplyParser

LANGUAGES = ["es", "en"]
_parser = EmailReplyParser(languages=LANGUAGES)
MAX_STRIP_CHARS = 200_000  # the parser's regexes are not meant for novels


def strip_reply(text: str) -> str:
    if not text.strip() or len(text) > MAX_STRIP_CHARS:
        return text.strip()
    try:
        replies = _parser.read(text=text).replies
    except Exception:  # a reply parser bug must not lose the message
        return text.strip()
    latest = replies[0].body.strip() if replies else ""
    return latest or text.strip()
