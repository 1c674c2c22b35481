"""Channel-silent rules: no reading from a channel for N times its sampling interval.

Silence is judged on the tick, against the injected clock, from when the hub last *heard* the
channel (its clock when the newest reading was evaluated), not from the reading's own
timestamp: that is the gateway's clock, which may run minutes behind or ahead of the hub's (a
Raspberry Pi without a real-time clock, before NTP answers). A gateway 10 minutes behind would
otherwise look silent on every tick, and one 10 minutes ahead would hide a real silence for
10 minutes. States saved before ``heard`` existed fall back to the reading timestamp until
the next reading. It is only a *sensor* problem when
the gateway is online and not holding a backlog: a gateway that went offline (Last Will) is
reported by the gateway-offline rule instead, and one that reports a backlog in its status is
delivering late, not silent. Both suppress this rule until they end.
"""

from __future__ import annotations

from typing import Any, Mapping

from wardlink.hub.errors import Message, Quantity
from wardlink.hub.i18n import N_
from wardlink.hub.rules.evaluators.base import Action, Clear, Context, Evaluator, Param, Raise, Sample, duration

#: What a raise says: (heard before, sampling interval known) -> template.
_SILENT = {
    (True, False): N_("no data for %(held)s while the gateway is online"),
    (True, True): N_("no data for %(held)s while the gateway is online; expected every %(interval)s s"),
    (False, False): N_("no data since monitoring began for %(held)s while the gateway is online"),
    (False, True): N_("no data since monitoring began for %(held)s while the gateway is online; "
                      "expected every %(interval)s s"),
}

#: Silence timeout when the rule names none and the channel's interval is unknown.
DEFAULT_TIMEOUT_S = 300.0


class ChannelSilentEvaluator(Evaluator):
    """Alert when a channel sends nothing for ``timeout_s`` (default ``factor`` x its interval)."""

    summary = N_("Alert when a channel sends nothing for timeout_s (default factor x its interval).")

    kind = "channel_silent"
    inputs = frozenset({"reading"})
    ticks = True
    backfill = False
    default_severity = "warning"
    PARAMS = {
        "timeout_s": Param("number", None, positive=True, help="silence that raises the alert"),
        "factor": Param("number", 3.0, minimum=1, help="timeout as a multiple of the channel's interval"),
    }

    def timeout_ms(self, ctx: Context) -> int:
        """Return the silence timeout for a channel."""
        if self.timeout_s:
            return round(self.timeout_s * 1000)
        if ctx.interval_s:
            return round(self.factor * ctx.interval_s * 1000)
        return round(DEFAULT_TIMEOUT_S * 1000)

    def initial(self) -> dict[str, Any]:
        """Return a channel not heard yet."""
        return {"last": None, "heard": None, "watch_from": None, "active": False}

    def on_sample(self, state: Mapping[str, Any], sample: Sample, ctx: Context) -> tuple[dict, list[Action]]:
        """Note that the channel spoke; clear a silence alert."""
        st = dict(state)
        st["last"] = sample.ts_ms if st.get("last") is None else max(st["last"], sample.ts_ms)
        st["heard"] = ctx.now_ms if st.get("heard") is None else max(st["heard"], ctx.now_ms)
        if st["active"]:
            st["active"] = False
            return st, [Clear(sample.ts_ms, sample.value, Message(N_("data received again")))]
        return st, []

    def on_tick(self, state: Mapping[str, Any], ctx: Context) -> tuple[dict, list[Action]]:
        """Raise when the silence has lasted longer than the timeout and the gateway is fine."""
        st = dict(state)
        if st["active"] or ctx.gateway_state == "offline" or ctx.buffering:
            return st, []
        reference = st.get("heard") or st.get("last") or st.get("watch_from")
        if reference is None:
            st["watch_from"] = ctx.now_ms
            return st, []
        silent = ctx.now_ms - reference
        timeout = self.timeout_ms(ctx)
        if silent <= timeout:
            return st, []
        st["active"] = True
        template = _SILENT[st.get("last") is not None, bool(ctx.interval_s)]
        return st, [Raise(ctx.now_ms, reference, None, Message(
            template, held=duration(silent), interval=Quantity(f"{ctx.interval_s or 0:g}")))]
