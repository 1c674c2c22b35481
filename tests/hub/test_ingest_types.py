"""The ingest worker's items and listeners are typed: an enum of kinds, a listener protocol."""

from pathlib import Path

INGEST = Path(__file__).resolve().parents[2] / "hub" / "ingest"


def test_the_worker_hands_listeners_a_typed_protocol_and_no_string_kinds():
    from wardlink.hub import ingest
    from wardlink.hub.ingest.items import IngestListener, Item, ItemKind

    assert ingest.IngestListener is IngestListener

    assert {k.value for k in ItemKind} == {"telemetry", "events", "status", "dead", "ignored"}
    assert Item.__dataclass_fields__["kind"].type in ("ItemKind", ItemKind)
    pump_source = (INGEST / "pump.py").read_text()
    assert "getattr(" not in pump_source  # listeners are called through IngestListener

    class Partial:
        def on_points(self, points):
            pass

    assert not isinstance(Partial(), IngestListener)
