"""BLE presence rules: an asset's tag seen in a ward other than its home ward.

The gateway's presence tracker reports where a tag is (``presence.changed`` with
``data.gateway``, or ``ble.seen`` near a gateway). The engine maps that gateway to its ward
(the gateway's department) and gives the evaluator the asset's home wards (its department,
or the rule's ``home`` override, plus the rule's ``allowed`` wards). A tag seen somewhere
else for ``for_s`` raises an alert; seen back home, it clears. Losing the tag is not a
location: it neither raises nor clears.
"""

from __future__ import annotations

from typing import Any, Mapping

from wardlink.hub.errors import Message
from wardlink.hub.i18n import N_
from wardlink.hub.rules.evaluators.base import (Action, Clear, Context, EventInput, Evaluator, Param, Raise, asset_word,
                                                duration)

LOCATION_EVENTS = ("presence.changed", "ble.seen")


class PresenceMismatchEvaluator(Evaluator):
    """Alert when an asset's BLE tag is located outside its home ward for ``for_s`` seconds."""

    summary = N_("Alert when an asset's BLE tag is located outside its home ward for for_s seconds.")

    kind = "presence_mismatch"
    inputs = frozenset({"event"})
    ticks = True
    backfill = False
    scope = "asset"
    default_severity = "warning"
    PARAMS = {
        "tags": Param("mapping", help="BLE tag id -> asset tag"),
        "home": Param("mapping", {}, help="asset tag -> ward code(s), overriding the asset's department"),
        "allowed": Param("strings", [], help="wards where any of these assets may be (e.g. BME)"),
        "for_s": Param("number", 0.0, minimum=0, help="how long the asset must be away before alerting"),
        "events": Param("strings", list(LOCATION_EVENTS), help="event types that place a tag"),
    }

    def check(self) -> None:
        """Require asset tags as the values of ``tags`` and ward codes in ``home``."""
        if not self.tags:
            raise self.fail("tags", Message(N_("must map at least one BLE tag id to an asset tag")))
        for ble, asset in self.tags.items():
            if not isinstance(asset, str) or not asset:
                raise self.fail(f"tags.{ble}", Message(N_("must be an asset tag, got %(value)r"), value=asset))
        for asset, wards in self.home.items():
            wards = [wards] if isinstance(wards, str) else wards
            if not isinstance(wards, list) or not all(isinstance(w, str) and w for w in wards):
                raise self.fail(f"home.{asset}", Message(N_("must be a ward code or a list of them, got %(value)r"),
                                                         value=wards))
            self.home[asset] = wards
        unknown = sorted(set(self.events) - set(LOCATION_EVENTS))
        if unknown:
            raise self.fail("events", Message(N_("must be among %(choices)s, got %(unknown)s"),
                                              choices=", ".join(LOCATION_EVENTS), unknown=", ".join(unknown)))

    def initial(self) -> dict[str, Any]:
        """Return an asset not located yet."""
        return {"ward": None, "gateway": None, "since": None, "last": None, "active": False}

    def _raise(self, st: dict, at_ms: int, ctx: Context) -> list[Action]:
        if st["active"] or st["since"] is None or at_ms - st["since"] < self.for_s * 1000:
            return []
        st["active"] = True
        home = ", ".join(sorted(ctx.home)) or Message(N_("unknown"))
        template = (N_("%(asset)s located in %(ward)s (gateway %(gateway)s) for %(held)s; its home is %(home)s")
                    if self.for_s else N_("%(asset)s located in %(ward)s (gateway %(gateway)s); its home is %(home)s"))
        return [Raise(at_ms, st["since"], None, Message(
            template, asset=asset_word(ctx.label), ward=st["ward"], gateway=st["gateway"],
            held=duration(at_ms - st["since"]), home=home))]

    def on_event(self, state: Mapping[str, Any], event: EventInput, ctx: Context) -> tuple[dict, list[Action]]:
        """Place the asset where the event says and compare with its home."""
        st = dict(state)
        if st["last"] is not None and event.ts_ms <= st["last"]:
            return st, []  # an older location than the one we hold
        if event.gateway is None or event.ward is None:
            return st, []  # lost, or a gateway with no ward: says nothing about the location
        st["last"] = event.ts_ms
        if event.ward in ctx.home:
            actions: list[Action] = []
            if st["active"]:
                actions.append(Clear(event.ts_ms, None, Message(N_("%(asset)s back in %(ward)s"),
                                                                asset=asset_word(ctx.label), ward=event.ward)))
            st.update(ward=event.ward, gateway=event.gateway, since=None, active=False)
            return st, actions
        if st["since"] is None:
            st["since"] = event.ts_ms  # away since it left home, whichever wards it passes
        st.update(ward=event.ward, gateway=event.gateway)
        return st, self._raise(st, event.ts_ms, ctx)

    def on_tick(self, state: Mapping[str, Any], ctx: Context) -> tuple[dict, list[Action]]:
        """Raise once the asset has been away for ``for_s``."""
        st = dict(state)
        return st, self._raise(st, ctx.gateway_now_ms, ctx)  # ``since`` is an event's time
