"""Match the episodes found in a replayed hole of a channel's live stream with alerts.

When late readings fill a hole of a channel's live stream (a backlog replayed after an outage,
or batches that sat in another worker's offline session), the engine replays the whole hole in
timestamp order (:func:`wardlink.hub.rules.tracks.replay`) and hands over the episodes found: spans in
which the condition held, each with its start and, if it ended inside the hole, its end.

An alert stands for one episode of (rule, subject): ``alert_lifecycle.episode_ms`` is its start
on the readings' clock and a unique key. Each time a hole is replayed, its episodes are matched
with the alerts of that rule and subject whose episodes overlap them:

- an episode no alert covers gets a *historical* alert, resolved at once when the episode
  ended inside the hole, left open (the subject's open alert) when it lasts to the hole's end;
- an episode an alert covers keeps that alert; when readings that arrived later show the
  episode began earlier, the alert's start moves back to it; an alert whose episode is now
  seen to have ended is resolved;
- two historical alerts that turn out to cover one episode: the later one is resolved as part
  of the first;
- an episode that began before the hole (the saved state holds the condition) keeps the alert
  open at the hole's start, whose end moves to where the hole's readings show it ended, so
  that an episode after it in the hole is not taken for part of it; an open alert, live or
  historical, is resolved there (the live track, which skipped the hole, took what followed
  for the same episode and would have kept it open over every episode of the hole);
- an episode going on at the hole's end that live readings after the hole saw clear (they
  resolved the alert open before the hole there) ends where they did: it gets its own alert,
  not the subject's open one of a later episode.

The result depends only on which readings arrived, not on the order of the batches or the
worker that evaluated them, and replaying a hole again changes nothing.
"""

from __future__ import annotations

import logging
from typing import Any

from sqlalchemy import select

from wardlink.hub.db.models import Alert
from wardlink.hub.db.models.rules import AlertLifecycle
from wardlink.hub.db.types import from_ms
from wardlink.hub.errors import Message, Moment
from wardlink.hub.i18n import N_
from wardlink.hub.rules.tracks import Episode, Replay

#: What an automatic resolution says, for live data and for data that reached the hub late.
CLEARED = N_("Cleared automatically at %(at)s: %(message)s")
CLEARED_LATE = N_("Cleared automatically at %(at)s: %(message)s (in data that reached the hub late)")

log = logging.getLogger(__name__)

_OPEN_END = 2**62  # an episode still going on


def _span_end(lc: AlertLifecycle, alert: Alert) -> int:
    """Return where an alert's episode ends: its clearing reading, or open while the alert is."""
    if lc.episode_end_ms is not None:
        return lc.episode_end_ms
    if alert.state != "resolved":
        return _OPEN_END
    return lc.episode_ms + 1  # resolved by a person or settled: known only at its start


def _alerts(applier: Any, rule: Any, subject_key: str, replay: Replay) -> list[tuple[AlertLifecycle, Alert]]:
    rows = applier.session.execute(
        select(AlertLifecycle, Alert).join(Alert, Alert.id == AlertLifecycle.alert_id)
        .where(AlertLifecycle.rule_id == rule.id, AlertLifecycle.subject == subject_key,
               AlertLifecycle.episode_ms.is_not(None), AlertLifecycle.episode_ms <= replay.end_ms)
        .order_by(AlertLifecycle.episode_ms)).all()
    return [(lc, alert) for lc, alert in rows if _span_end(lc, alert) > replay.start_ms]


def reconcile(applier: Any, rule: Any, subject: Any, replay: Replay, doc: dict | None = None,
              state_key: str | None = None) -> None:
    """Give every episode of ``replay`` exactly one alert of ``rule`` on ``subject``.

    ``doc`` is the channel's state document (an alert left open for an episode going on at
    the hole's end is promoted by the next live reading that still shows the condition) and
    ``state_key`` its key (a live alert stays open while another channel of the subject holds
    the condition).
    """
    if not rule.evaluator.raises:
        return
    known = _alerts(applier, rule, subject.key, replay)
    after = _cleared_after(known, replay)
    for episode in replay.episodes:
        if episode.end_ms is None and after is not None and not episode.continued:
            # The hole's last readings show an episode going on, which live readings after the
            # hole already saw end (they took it for part of the alert open before the hole).
            episode = Episode(episode.since_ms, episode.raised, after)
        if episode.continued:
            _continued(applier, rule, known, replay, episode, state_key)
            continue
        end = episode.end_ms if episode.end_ms is not None else _OPEN_END
        covering = [(lc, alert) for lc, alert in known
                    if lc.episode_ms < end and episode.since_ms < _span_end(lc, alert)]
        if not covering:
            opened = _open(applier, rule, subject, episode, doc)
            if opened is not None:
                known.append(opened)
            continue
        lc, alert = covering[0]
        if episode.since_ms < lc.episode_ms:
            # Readings that came later show the episode began earlier: the alert moves back.
            lc.episode_ms = episode.since_ms
            lc.condition_since = from_ms(episode.since_ms)
            lc.updated_at = applier.now
            applier.session.flush()
        if episode.end_ms is not None:
            if alert.state != "resolved":
                _resolve(applier, rule, lc, alert, episode, state_key)
            elif lc.episode_end_ms != episode.end_ms:
                # Readings that came later show it ended sooner (a closed door between two
                # open readings): what follows is another episode.
                lc.episode_end_ms = episode.end_ms
                lc.updated_at = applier.now
                applier.session.flush()
        for other_lc, other in covering[1:]:
            if other_lc.historical and other.state != "resolved":
                applier.resolve(rule, other_lc, other, Message(
                    N_("Part of the episode of alert %(alert_id)s, as the readings that reached the hub late show."),
                    alert_id=alert.id))


def _cleared_after(known: list, replay: Replay) -> int | None:
    """Return where live readings after the hole ended the episode that held at its end, if they did.

    The live track does not see a hole's readings: at the hole's end it takes the condition for
    the continuation of whatever held before the hole, and its clearing reading is recorded as
    the end of that alert's episode. That end belongs to the episode the hole's last readings
    show going on.
    """
    for lc, alert in known:
        if (alert.state == "resolved" and lc.episode_end_ms is not None
                and lc.episode_ms <= replay.end_ms < lc.episode_end_ms):
            return lc.episode_end_ms
    return None


def _continued(applier: Any, rule: Any, known: list, replay: Replay, episode: Episode,
               state_key: str | None) -> None:
    """Correct the end of the alert of an episode that began before the hole, as the hole's readings show it."""
    if episode.end_ms is None:
        return  # it lasts through the hole: nothing the hole tells changes its alert
    for lc, alert in known:
        if lc.episode_ms <= replay.start_ms < _span_end(lc, alert):
            if alert.state != "resolved":
                _resolve(applier, rule, lc, alert, episode, state_key)
            elif lc.episode_end_ms != episode.end_ms:
                lc.episode_end_ms = episode.end_ms  # it ended sooner: what follows is another episode
                lc.updated_at = applier.now
                applier.session.flush()
            return


def _open(applier: Any, rule: Any, subject: Any, episode: Episode,
          doc: dict | None) -> tuple[AlertLifecycle, Alert] | None:
    """Open the historical alert of an episode no alert covers (resolved if it is over)."""
    if episode.end_ms is None:
        found = applier.current(rule.id, subject.key)
        if found is not None:
            return None  # the subject's open alert holds the condition that goes on
        opened = applier.open(rule, subject, episode.raised, True)
        if opened is not None and doc is not None:
            doc["hist"] = True  # a live reading that still shows the condition promotes it
    else:
        opened = applier.open(rule, subject, episode.raised, True, ongoing=False)
    if opened is None:
        return None
    alert, lc = opened
    if episode.end_ms is not None:
        _resolve(applier, rule, lc, alert, episode, None)
    return lc, alert


def _resolve(applier: Any, rule: Any, lc: AlertLifecycle, alert: Alert, episode: Episode,
             state_key: str | None) -> None:
    """Resolve the alert of an episode the late readings show over.

    A live alert too: the live readings around the hole took the episode for one going on
    (its end was in the hole), and leaving it open would swallow the hole's later episodes.
    Unless another channel of the subject holds the condition, as for a live clearing.
    """
    if not lc.historical and applier.others_active(rule.id, lc.subject, state_key):
        return
    lc.episode_end_ms = episode.end_ms
    cleared = episode.cleared
    when = Moment(from_ms(episode.end_ms).isoformat())
    said = (Message(CLEARED_LATE, at=when, message=cleared.said) if cleared is not None
            else Message(N_("Cleared automatically at %(at)s (in data that reached the hub late)"), at=when))
    applier.resolve(rule, lc, alert, said)
