"""Tables, in SQLAlchemy Core. Changes go through a migration in pipeline/migrations.

Types fit both engines (migration 0005): IMAP UIDs and UIDVALIDITY are unsigned 32-bit,
so BigInteger (PostgreSQL's integer is signed 32-bit); a value that comes from outside
(mail headers, config, imports) is Text, since SQLite ignores a length and PostgreSQL
refuses a value past it. String(n) is left only for our own code words (states, kinds,
stage and head names). Indexed text is bounded in code first (`db.fit_index`), or the
index holds a capped prefix (`outbox.recipients`, migration 0012): a PostgreSQL B-tree
entry holds at most about 2,700 bytes.
"""

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
    func,
    literal_column,
)

metadata = MetaData()

# inbound.state: stored, not yet processed / claimed by a worker (claimed_by, lease_until) /
# registered as a ticket / a stage failed
FETCHED, PROCESSING, PROCESSED, QUARANTINED = "fetched", "processing", "processed", "quarantined"

mailbox_state = Table(
    "mailbox_state", metadata,
    Column("mailbox", Text, primary_key=True),
    Column("folder", Text, primary_key=True),
    Column("uidvalidity", BigInteger, nullable=False),
    Column("last_uid", BigInteger, nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
)

tickets = Table(
    "tickets", metadata,
    Column("id", Integer, primary_key=True),
    Column("ref", Text, nullable=False, unique=True),
    Column("mailbox", Text, nullable=False),
    Column("subject", Text, nullable=False),
    Column("requester", Text, nullable=False),
    Column("language", String(8), nullable=False),
    Column("status", String(20), nullable=False, default="open"),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
)

inbound = Table(
    "inbound", metadata,
    Column("id", Integer, primary_key=True),
    Column("mailbox", Text, nullable=False),
    Column("folder", Text, nullable=False),
    Column("uidvalidity", BigInteger, nullable=True),
    Column("uid", BigInteger, nullable=True),
    Column("source_key", Text, nullable=True),
    Column("dedupe_key", Text, nullable=False, unique=True),
    Column("message_id", Text, nullable=True),
    Column("raw", LargeBinary, nullable=False),
    Column("size", Integer, nullable=False),
    Column("state", String(20), nullable=False),  # fetched | processing | processed | quarantined
    Column("stage", String(40), nullable=True),
    Column("reason", Text, nullable=True),
    Column("attempts", Integer, nullable=False, default=0),
    Column("received_at", DateTime(timezone=True), nullable=False),
    Column("processed_at", DateTime(timezone=True), nullable=True),
    Column("server_done", Boolean, nullable=False, default=False),
    Column("ticket_id", Integer, ForeignKey("tickets.id"), nullable=True),
    Column("is_followup", Boolean, nullable=True),
    Column("automatic", Boolean, nullable=True),
    Column("auto_reason", Text, nullable=True),
    Column("sender", Text, nullable=True),
    Column("subject", Text, nullable=True),
    Column("language", String(8), nullable=True),
    Column("body_text", Text, nullable=True),
    Column("notes", Text, nullable=True),
    Column("claimed_by", Text, nullable=True),  # the instance (pipeline/instance.py) processing it
    Column("lease_until", DateTime(timezone=True), nullable=True),  # then anyone may take it
)
Index("ix_inbound_state", inbound.c.state)
Index("ix_inbound_message_id", inbound.c.message_id)
Index("ix_inbound_sender_time", inbound.c.sender, inbound.c.received_at)
Index("ix_inbound_ticket", inbound.c.ticket_id)
Index("ix_inbound_uid", inbound.c.mailbox, inbound.c.folder, inbound.c.uidvalidity, inbound.c.uid)

predictions = Table(
    "predictions", metadata,
    Column("id", Integer, primary_key=True),
    Column("inbound_id", Integer, ForeignKey("inbound.id"), nullable=False),
    Column("head", String(40), nullable=False),
    Column("label", Text, nullable=False),
    Column("confidence", Float, nullable=False),
    Column("needs_review", Boolean, nullable=False),
    Column("review_reason", Text, nullable=True),  # unfamiliar, low_confidence... (0011)
    Column("model_version", Text, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    UniqueConstraint("inbound_id", "head", "model_version", name="uq_prediction"),
)

outbox = Table(
    "outbox", metadata,
    Column("id", Integer, primary_key=True),
    Column("ticket_id", Integer, ForeignKey("tickets.id"), nullable=True),
    Column("inbound_id", Integer, ForeignKey("inbound.id"), nullable=True),
    Column("kind", String(20), nullable=False),  # ack | route | triage | forward | followup
    Column("recipients", Text, nullable=False),  # comma-separated envelope recipients
    Column("message_id", Text, nullable=False, unique=True),
    Column("raw", LargeBinary, nullable=True),  # the exact bytes handed to SMTP; NULL until
    # the sender renders a planned mail (pipeline/deferred.py) before its first attempt
    Column("plan", Text, nullable=True),  # JSON decision a planned mail is rendered from
    Column("state", String(20), nullable=False),  # queued | sent | failed
    Column("attempts", Integer, nullable=False, default=0),
    Column("next_attempt_at", DateTime(timezone=True), nullable=False),
    Column("last_error", Text, nullable=True),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("sent_at", DateTime(timezone=True), nullable=True),
    Column("claimed_by", Text, nullable=True),  # the instance whose claim next_attempt_at is
    UniqueConstraint("inbound_id", "kind", name="uq_outbox_inbound_kind"),
)
Index("ix_outbox_due", outbox.c.state, outbox.c.next_attempt_at)
Index("ix_outbox_ticket", outbox.c.ticket_id)  # a ticket's routing mails (0013)
# the whole envelope list can pass a B-tree entry's limit: a prefix is indexed (0012),
# written with literals so that a query's expression is the index's, on both engines
RECIPIENT_PREFIX = 200
recipients_prefix = func.substr(outbox.c.recipients, literal_column("1"),
                                literal_column(str(RECIPIENT_PREFIX)))
Index("ix_outbox_recipient_time", recipients_prefix, outbox.c.created_at)

# Misclassification tracking (migration 0003): human labels and what they are measured against.

labels = Table(
    "labels", metadata,
    Column("id", Integer, primary_key=True),
    Column("inbound_id", Integer, ForeignKey("inbound.id"), nullable=False),
    Column("head", String(40), nullable=False),
    Column("label", Text, nullable=False),
    Column("source", String(20), nullable=False),  # email | review | import
    Column("author", Text, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("origin_inbound_id", Integer, ForeignKey("inbound.id"), nullable=True),  # the mail
)
Index("ix_labels_message_head", labels.c.inbound_id, labels.c.head, labels.c.id)

correction_mails = Table(
    "correction_mails", metadata,
    Column("inbound_id", Integer, ForeignKey("inbound.id"), primary_key=True),
    Column("ticket_id", Integer, ForeignKey("tickets.id"), nullable=False),
    Column("target_inbound_id", Integer, ForeignKey("inbound.id"), nullable=True),
    Column("author", Text, nullable=False),
    Column("applied", Text, nullable=False),  # "type=incident queue=network"
    Column("unknown", Text, nullable=False),  # "priority=altísima"
    Column("rerouted_to", Text, nullable=True),
    Column("created_at", DateTime(timezone=True), nullable=False),
)

audit_sample = Table(
    "audit_sample", metadata,
    Column("inbound_id", Integer, ForeignKey("inbound.id"), primary_key=True),
    Column("draw", Float, nullable=False),  # in [0, 1), from a hash of the message
    Column("fraction", Float, nullable=False),  # [tracking] audit_fraction when registered
    Column("drawn", Boolean, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
)

review_log = Table(
    "review_log", metadata,
    Column("id", Integer, primary_key=True),
    Column("inbound_id", Integer, ForeignKey("inbound.id"), nullable=False),
    Column("head", String(40), nullable=False),
    Column("decision", String(20), nullable=False),  # accept | correct | skip
    Column("label", Text, nullable=True),
    Column("author", Text, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
)
Index("ix_review_log_message_head", review_log.c.inbound_id, review_log.c.head)

model_events = Table(
    "model_events", metadata,
    Column("id", Integer, primary_key=True),
    Column("action", String(20), nullable=False),  # promote | rollback | retrain
    Column("version", Text, nullable=True),  # the version in service afterwards
    Column("previous", Text, nullable=True),
    Column("author", Text, nullable=False),
    Column("details", Text, nullable=True),  # JSON: scores of a retrain, reason
    Column("created_at", DateTime(timezone=True), nullable=False),
)

# Named leases (migration 0007): "mailbox:<name>" is the one daemon fetching and IDLEing
# that mailbox, "daemon:<instance>" says a daemon is alive, "leader" runs the run-once jobs.
leases = Table(
    "leases", metadata,
    Column("name", Text, primary_key=True),
    Column("owner", Text, nullable=False),  # an instance id, pipeline/instance.py
    Column("until", DateTime(timezone=True), nullable=False),
)

# The server accepted these outbox rows (the 250) and they may not be marked sent yet:
# written in its own short transaction right after the 250, applied before the next
# drain claims anything (pipeline/outbound/sentjournal.py; a file beside SQLite instead).
sent_journal = Table(
    "sent_journal", metadata,
    Column("outbox_id", Integer, primary_key=True),
    Column("message_id", Text, nullable=False),
    Column("accepted_at", DateTime(timezone=True), nullable=False),
)

# Values every daemon must see alike (migration 0009): "model.current" is the model version
# in service, so a promotion or rollback reaches every daemon, whichever host ran it.
settings = Table(
    "settings", metadata,
    Column("key", Text, primary_key=True),
    Column("value", Text, nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
)

# The web desk (migration 0010): its users and their server-side sessions.

users = Table(
    "users", metadata,
    Column("id", Integer, primary_key=True),
    Column("name", String(200), nullable=False, unique=True),
    Column("password_hash", String(300), nullable=True),  # argon2; NULL: proxy login only
    Column("role", String(20), nullable=False),  # reviewer | admin
    Column("language", String(8), nullable=True),  # es | en; NULL: from Accept-Language
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("password_changed_at", DateTime(timezone=True), nullable=True),
)

web_sessions = Table(
    "web_sessions", metadata,
    Column("id", String(64), primary_key=True),  # sha256 of the cookie: a leaked table logs nobody in
    Column("user_id", Integer, ForeignKey("users.id", ondelete="CASCADE"), nullable=False),
    Column("csrf_token", String(64), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("expires_at", DateTime(timezone=True), nullable=False),
)
Index("ix_web_sessions_user", web_sessions.c.user_id)
Index("ix_predictions_review", predictions.c.needs_review, predictions.c.confidence)
