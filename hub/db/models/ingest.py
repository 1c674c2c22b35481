"""Tables the ingest workers write (migration ``0013_ingest_tables``): dead letters, events,
worker counters and batch sequences. What ingest hears of each gateway's link goes to its
columns of ``gateway_links`` (:class:`wardlink.hub.db.models.gateways.GatewayLink`).

They live in the hub's relational database so several ingest workers and the web UI share
them. They are Core tables on the schema's metadata: the ingest hot path writes them with
SQLAlchemy Core statements (bulk upserts), without the ORM. All times are integer
milliseconds since the epoch, as on the wire.
"""

from __future__ import annotations

from sqlalchemy import (JSON, BigInteger, Boolean, Column, Index, Integer, LargeBinary, String, Table,
                        Text, UniqueConstraint)

from wardlink.hub.db.base import Base

metadata = Base.metadata

#: Invalid messages, kept for inspection. One row per distinct (topic, payload); ``count``
#: says how often it arrived, so a gateway stuck re-sending a bad batch does not flood the table.
dead_letters = Table(
    "ingest_dead_letters", metadata,
    Column("id", Integer, primary_key=True),
    Column("digest", String(64), nullable=False, unique=True),  # sha256 of topic + payload
    Column("topic", Text, nullable=False),
    Column("gateway", String(64)),  # from the topic, when it names one
    Column("reason", String(32), nullable=False),  # ProtocolError.reason or store_rejected
    Column("detail", Text, nullable=False),
    Column("payload", LargeBinary, nullable=False),  # the first bytes only; see payload_size
    Column("payload_size", Integer, nullable=False),
    Column("first_received_ms", BigInteger, nullable=False),
    Column("last_received_ms", BigInteger, nullable=False),
    Column("count", Integer, nullable=False),
    Index("ix_ingest_dead_letters_last_received_ms", "last_received_ms"),
)

#: Gateway events (door open/close, alarms, buffer overflow...) and the hub's own notes
#: about a gateway (``hub.gateway_restarted``, ``hub.sequence_gap``; ``idx`` < 0).
events = Table(
    "ingest_events", metadata,
    Column("id", Integer, primary_key=True),
    Column("gateway", String(64), nullable=False),
    Column("boot", String(64), nullable=False),
    Column("seq", BigInteger, nullable=False),
    Column("idx", Integer, nullable=False),  # position in the batch
    Column("ts_ms", BigInteger, nullable=False),
    Column("type", String(64), nullable=False),
    Column("severity", String(16), nullable=False),
    Column("channel", String(128)),
    Column("asset", String(256)),  # from the channel's binding at ts_ms
    Column("data", JSON, nullable=False),
    Column("received_ms", BigInteger, nullable=False),
    UniqueConstraint("gateway", "boot", "seq", "idx"),
    Index("ix_ingest_events_ts_ms", "ts_ms"),
    Index("ix_ingest_events_gateway_ts", "gateway", "ts_ms"),
    Index("ix_ingest_events_asset_ts", "asset", "ts_ms"),
)

#: One row per ingest worker (by MQTT client id): its counters, refreshed every few seconds,
#: so a status page in another process can show them.
workers = Table(
    "ingest_workers", metadata,
    Column("client_id", String(128), primary_key=True),
    Column("hostname", String(255), nullable=False),
    Column("pid", Integer, nullable=False),
    Column("started_ms", BigInteger, nullable=False),
    Column("updated_ms", BigInteger, nullable=False),
    Column("connected", Boolean, nullable=False),
    Column("received", BigInteger, nullable=False),
    Column("points_written", BigInteger, nullable=False),
    Column("dead_lettered", BigInteger, nullable=False),
    Column("acked", BigInteger, nullable=False),
    Column("store_errors", BigInteger, nullable=False),
    Column("pending", Integer, nullable=False),
    Column("last_error", Text),
    Column("last_error_ms", BigInteger),
    # Added after the first release (migration 0013 adds them to a table an older worker made).
    Column("oldest_pending_ms", BigInteger),  # receipt of the oldest unacknowledged message
    Column("retrying_since_ms", BigInteger),  # since when a store or listener write is being retried
    Column("share_group", String(128)),  # the shared-subscription group it is a member of (NULL: none)
)

#: Each gateway boot's telemetry batch sequence as the hub received it, shared by every worker
#: of a group (see :mod:`wardlink.hub.ingest.sequence`): every seq through ``through`` arrived;
#: ``received`` holds the ranges that arrived above it, ``high`` the newest seq known to exist
#: (received, or stated by the gateway's status). What lies between is missing.
batch_sequence = Table(
    "ingest_batch_sequence", metadata,
    Column("gateway", String(64), primary_key=True),
    Column("boot", String(64), primary_key=True),
    Column("through", BigInteger, nullable=False),
    Column("high", BigInteger, nullable=False),
    Column("received", Text, nullable=False),  # JSON [[lo, hi], ...] above through + 1
    Column("missing", BigInteger, nullable=False),  # seqs missing now
    Column("missing_since_ms", BigInteger),  # when some seq first went missing (NULL: none)
    Column("first_seen_ms", BigInteger, nullable=False),
    Column("updated_ms", BigInteger, nullable=False),  # last batch or status of this boot
    Column("requested_ms", BigInteger),  # last resend-from sent for it
    Column("requests", Integer, nullable=False),  # resend-from sent since the missing count last fell
    Column("missing_at_request", BigInteger, nullable=False),
    Column("resend_requests", BigInteger, nullable=False),  # resend-from sent in all
    Column("recovered", BigInteger, nullable=False),  # missing seqs that arrived later
    Column("given_up", BigInteger, nullable=False),  # missing seqs no longer asked for
    Index("ix_ingest_batch_sequence_missing", "missing_since_ms"),
)
