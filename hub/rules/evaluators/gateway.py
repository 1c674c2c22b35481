"""Gateway rules from the retained status and its Last Will.

- ``gateway_offline``: the broker published the gateway's Last Will (``offline``) and it has
  not come back within ``for_s``; or the gateway is *stalled*: its status says online but the
  hub has heard nothing from it for longer than its stall threshold (a frozen process whose
  connection the broker has not yet dropped; the engine passes the judgement of
  :func:`wardlink.hub.services.gateways.registry.judge_link` in ``Context.stalled_since_ms``). One alert per
  episode: a stall that turns into a Last Will keeps the alert open. Clears when the gateway
  is heard again (an ``online`` status, or any message ending the stall).
- ``gateway_buffering``: the gateway is online but reports a backlog (``buffer_depth``
  readings, the oldest ``oldest_unsent_ms`` old): data reaches the hub late. Clears when the
  backlog's age drops under the limit.
"""

from __future__ import annotations

from typing import Any, Mapping

from wardlink.hub.errors import Message, Plural, Quantity
from wardlink.hub.i18n import N_
from wardlink.hub.rules.evaluators.base import (Action, Clear, Context, Evaluator, Param, Raise, StatusInput,
                                                duration)


class GatewayOfflineEvaluator(Evaluator):
    """Alert when a gateway has been offline (Last Will) for ``for_s`` seconds."""

    summary = N_("Alert when a gateway has been offline (Last Will) for for_s seconds.")

    kind = "gateway_offline"
    inputs = frozenset({"status"})
    ticks = True
    backfill = False
    scope = "gateway"
    default_severity = "critical"
    PARAMS = {
        "for_s": Param("number", 60.0, minimum=0,
                       help="grace period, so a gateway reboot does not page anyone"),
    }

    def initial(self) -> dict[str, Any]:
        """Return a gateway of unknown state."""
        return {"state": None, "since": None, "active": False, "stalled": None}

    def _raise(self, st: dict, at_ms: int) -> list[Action]:
        if st["active"] or st["state"] != "offline" or at_ms - st["since"] < self.for_s * 1000:
            return []
        st["active"] = True
        return [Raise(at_ms, st["since"], None, Message(N_("gateway offline (Last Will) for %(held)s"),
                                                       held=duration(at_ms - st["since"])))]

    def on_status(self, state: Mapping[str, Any], status: StatusInput, ctx: Context) -> tuple[dict, list[Action]]:
        """Follow online/offline transitions."""
        st = dict(state)
        if status.state == "offline":
            if st["state"] != "offline":
                st.update(state="offline", since=status.received_ms)
            return st, self._raise(st, status.received_ms)
        actions: list[Action] = []
        if st["active"]:
            began = st.get("stalled") or st["since"]
            actions.append(Clear(status.received_ms, None, Message(N_("gateway back online after %(held)s"),
                                                                   held=duration(status.received_ms - began))))
        st.update(state="online", since=status.received_ms, active=False, stalled=None)
        return st, actions

    def on_tick(self, state: Mapping[str, Any], ctx: Context) -> tuple[dict, list[Action]]:
        """Raise once the grace period has passed, or the gateway stalled; clear a stall heard again."""
        st = dict(state)
        if st["state"] != "online":
            return st, self._raise(st, ctx.now_ms)
        stalled = ctx.stalled_since_ms
        if stalled is not None and not st["active"]:
            st.update(active=True, stalled=stalled)
            return st, [Raise(ctx.now_ms, stalled, None, Message(
                N_("gateway stalled: its status says online but nothing heard for %(held)s"),
                held=duration(ctx.now_ms - stalled)))]
        if stalled is None and st["active"] and st.get("stalled") is not None:
            began = st["stalled"]
            st.update(active=False, stalled=None)
            return st, [Clear(ctx.now_ms, None, Message(N_("gateway heard again after %(held)s of silence"),
                                                        held=duration(ctx.now_ms - began)))]
        return st, []


class GatewayBufferingEvaluator(Evaluator):
    """Alert when an online gateway holds readings older than ``lag_s`` (data arrives late)."""

    summary = N_("Alert when an online gateway holds readings older than lag_s (data arrives late).")

    kind = "gateway_buffering"
    inputs = frozenset({"status"})
    ticks = True
    backfill = False
    scope = "gateway"
    default_severity = "warning"
    PARAMS = {
        "lag_s": Param("number", 300.0, positive=True, help="age of the oldest unsent reading that counts as late"),
        "min_depth": Param("integer", 1, minimum=1, help="fewest buffered readings that count"),
        "for_s": Param("number", 0.0, minimum=0, help="how long the backlog must last"),
    }

    def initial(self) -> dict[str, Any]:
        """Return a gateway without a backlog."""
        return {"since": None, "active": False, "depth": None, "lag": None}

    def _raise(self, st: dict, at_ms: int) -> list[Action]:
        if st["active"] or st["since"] is None or at_ms - st["since"] < self.for_s * 1000:
            return []
        st["active"] = True
        return [Raise(at_ms, st["since"], float(st["depth"]), Plural(
            "gateway online but holding %(count)s reading; the oldest is %(lag)s old (data arrives late)",
            "gateway online but holding %(count)s readings; the oldest is %(lag)s old (data arrives late)",
            st["depth"], count=Quantity(f"{st['depth']:,}"), lag=duration(st["lag"])))]

    def on_status(self, state: Mapping[str, Any], status: StatusInput, ctx: Context) -> tuple[dict, list[Action]]:
        """Compare the reported backlog with the limits."""
        st = dict(state)
        if status.state != "online":
            return st, []  # offline is the gateway_offline rule's business; keep what we had
        depth, lag = status.buffer_depth or 0, status.oldest_unsent_ms or 0
        st.update(depth=depth, lag=lag)
        if depth >= self.min_depth and lag >= self.lag_s * 1000:
            if st["since"] is None:
                st["since"] = status.received_ms
            return st, self._raise(st, status.received_ms)
        actions: list[Action] = []
        if st["active"]:
            actions.append(Clear(status.received_ms, float(depth), Plural(
                "backlog delivered (%(count)s reading left, oldest %(lag)s old)",
                "backlog delivered (%(count)s readings left, oldest %(lag)s old)",
                depth, count=Quantity(f"{depth:,}"), lag=duration(lag))))
        st.update(since=None, active=False)
        return st, actions

    def on_tick(self, state: Mapping[str, Any], ctx: Context) -> tuple[dict, list[Action]]:
        """Raise once a backlog has lasted ``for_s``."""
        st = dict(state)
        return st, self._raise(st, ctx.now_ms)
