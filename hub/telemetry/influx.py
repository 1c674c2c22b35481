"""Telemetry in InfluxDB over the HTTP API that every generation serves.

Writes go to ``/write?db=...&precision=ms`` as gzip-compressed line protocol; queries are
InfluxQL on ``/query``. That pair is native in InfluxDB 1.x, the v1 compatibility API of 2.x
(with a DBRP mapping and a token) and of 3.x Core/Enterprise, so one client serves all three.
Authentication: 1.x user and password as HTTP basic auth, or ``Authorization: Token ...``.

Only InfluxQL that InfluxDB 1.6 already had is used (``mean``, ``min``, ``max``, ``count``,
``GROUP BY time(...) fill(none)``, ``ORDER BY time DESC LIMIT 1``). Local days for
:meth:`InfluxStore.daily_minmax` are computed here with :mod:`zoneinfo` and sent as explicit
time ranges, rather than with InfluxQL's ``tz()``, so days with a clock change are exact on
every server version.

Errors: connection failures, timeouts, 5xx and 429 answers are retried with exponential
backoff a bounded number of times and then raise :class:`StoreUnavailable`; so do 401/403
(bad credentials) and 404 (no such database), which no retry can fix but which are not the
data's fault. Any other 4xx raises :class:`StoreRejected` carrying InfluxDB's error text; a
batch refused that way (e.g. a field type conflict) will be refused again.
"""

from __future__ import annotations

import gzip
import json
import re
import threading
import time
from typing import Any, Iterator, Sequence

import requests

from wardlink.hub.errors import N_, InvalidInput, Message, Plural, StoreError
from wardlink.hub.telemetry.days import local_days
from wardlink.hub.telemetry.lineprotocol import LineEncoder, quote_ident, quote_literal
from wardlink.hub.telemetry.model import (
    DailyRow,
    LatestRow,
    Point,
    RangeRow,
    StoreRejected,
    StoreUnavailable,
    TelemetryStore,
    check_range,
    merge_windows,
)
from wardlink.retry import Backoff

#: Lines per HTTP write request (InfluxData recommends 5,000 to 10,000). The larger end: one
#: request per ingest batch, and on a small server 10,000-line requests went in about 15 %
#: faster than 5,000-line ones.
DEFAULT_BATCH_LINES = 10_000
#: Statements per query request for daily summaries.
_STATEMENTS_PER_QUERY = 300
#: What a request that failed says (pages show it in the reader's language; the reason stays as the
#: server or the network said it).
FAILED = N_("InfluxDB at %(url)s: %(doing)s: %(reason)s")
_ALL = "/.*/"


class InfluxStore(TelemetryStore):
    """A telemetry store backed by one InfluxDB database (1.x) or DBRP-mapped bucket (2.x/3.x)."""

    def __init__(
        self,
        url: str,
        database: str,
        *,
        username: str | None = None,
        password: str | None = None,
        token: str | None = None,
        retention_policy: str | None = None,
        batch_lines: int = DEFAULT_BATCH_LINES,
        timeout_s: float = 30.0,
        connect_timeout_s: float = 5.0,
        retries: int = 3,
        backoff_s: float = 0.2,
        gzip_level: int = 1,
    ) -> None:
        if not url.startswith(("http://", "https://")):
            raise InvalidInput(f"influx_url: must start with http:// or https://, got {url!r}")
        if not database:
            raise InvalidInput("influx_database: must not be empty")
        if token and username:
            raise InvalidInput("influx_token_file and influx_username: set one, not both")
        if not 1 <= batch_lines <= 100_000:
            raise InvalidInput(f"batch_lines: must be 1..100000, got {batch_lines}")
        self.url = url.rstrip("/")
        self.database = database
        self.retention_policy = retention_policy
        self.batch_lines = batch_lines
        self._timeout = (connect_timeout_s, timeout_s)
        self._retries = max(0, retries)
        self._backoff = Backoff(backoff_s)  # backoff_s, then twice that, ... between attempts
        self._gzip_level = gzip_level
        self._headers = {"Authorization": f"Token {token}"} if token else {}
        self._auth = (username, password or "") if username else None
        self._encoder = LineEncoder()
        self._local = threading.local()
        self._sessions: list[requests.Session] = []
        self._sessions_lock = threading.Lock()
        self._closed = False
        params = {"db": database, "precision": "ms"}
        if retention_policy:
            params["rp"] = retention_policy
        self._write_params = params

    # ------------------------------------------------------------------ HTTP

    def _session(self) -> requests.Session:
        if self._closed:
            raise StoreError(N_("InfluxDB telemetry store is closed"))
        session = getattr(self._local, "session", None)
        if session is None:
            session = requests.Session()
            session.headers.update(self._headers)
            if self._auth:
                session.auth = self._auth
            self._local.session = session
            with self._sessions_lock:
                self._sessions.append(session)
        return session

    def _request(self, method: str, path: str, doing: Message, **kwargs: Any) -> requests.Response:
        """Send one request, retrying transient failures; return a 2xx response or raise."""
        last: StoreError | None = None
        for attempt in range(self._retries + 1):
            if attempt:
                time.sleep(self._backoff.ceiling(attempt - 1))
            try:
                resp = self._session().request(method, self.url + path, timeout=self._timeout, **kwargs)
            except (requests.ConnectionError, requests.Timeout) as exc:
                last = StoreUnavailable(FAILED, url=self.url, doing=doing,
                                        reason=f"{type(exc).__name__}: {_reason(exc)}")
                continue
            except requests.RequestException as exc:
                raise StoreError(FAILED, url=self.url, doing=doing, reason=str(exc)) from None
            code = resp.status_code
            if code < 300:
                return resp
            text = Message(N_("InfluxDB at %(url)s: %(doing)s: HTTP %(code)s: %(reason)s"), url=self.url,
                           doing=doing, code=code, reason=_error_text(resp))
            if code >= 500 or code == 429:
                last = StoreUnavailable(text)
                continue
            if code in (401, 403, 404):
                raise StoreUnavailable(text)
            raise StoreRejected(text)
        assert last is not None
        raise last

    # ------------------------------------------------------------------ writing

    def write(self, points: Sequence[Point]) -> None:
        """Write ``points`` in requests of at most ``batch_lines`` lines; same identity overwrites."""
        if not points:
            return
        lines = self._encoder.lines(points)
        for start in range(0, len(lines), self.batch_lines):
            self.write_lines(lines[start:start + self.batch_lines])

    def write_lines(self, lines: Sequence[str]) -> None:
        """Send already-formatted line-protocol lines in one request."""
        body = "\n".join(lines).encode("utf-8")
        headers = {"Content-Type": "text/plain; charset=utf-8"}
        if self._gzip_level:
            body = gzip.compress(body, compresslevel=self._gzip_level)
            headers["Content-Encoding"] = "gzip"
        self._request("POST", "/write", Plural("write %(num)s point", "write %(num)s points", len(lines),
                                               num=len(lines)), params=self._write_params,
                      data=body, headers=headers)

    # ------------------------------------------------------------------ queries

    def query(self, statements: str) -> list[dict]:
        """Run InfluxQL (one or more ``;``-separated statements); return one result per statement."""
        resp = self._request("POST", "/query", Message(N_("query")),
                             data={"q": statements, "db": self.database, "epoch": "ms"})
        try:
            body = resp.json()
        except ValueError:
            raise StoreError(N_("InfluxDB at %(url)s: query answered with non-JSON: %(text)r"), url=self.url,
                             text=resp.text[:200]) from None
        if "error" in body:
            raise StoreRejected(N_("InfluxDB at %(url)s: query: %(reason)s"), url=self.url, reason=str(body["error"]))
        results = body.get("results", [])
        for result in results:
            if "error" in result:
                error = result["error"]
                cls = StoreUnavailable if error.startswith("database not found") else StoreRejected
                raise cls(f"InfluxDB at {self.url}: query: {error}")
        return results

    def _series(self, statement: str) -> Iterator[dict]:
        for result in self.query(statement):
            yield from result.get("series", ())

    def latest(self, *, gateway: str | None = None, channels: Sequence[str] | None = None,
               asset: str | None = None) -> list[LatestRow]:
        """Return the newest point of every series matching the filters."""
        where = _where(gateway=gateway, channels=channels, asset=asset)
        if where is None:
            return []
        rows = []
        statement = f"SELECT * FROM {_ALL}{_clause(where)} GROUP BY * ORDER BY time DESC LIMIT 1"
        for series in self._series(statement):
            tags = {k: v for k, v in series.get("tags", {}).items() if v}
            for values in series["values"]:
                rec = dict(zip(series["columns"], values))
                rows.append(LatestRow(series["name"], tags, rec["time"], _float(rec.get("value")),
                                      rec.get("quality") or "good", bool(rec.get("late"))))
        rows.sort(key=lambda r: (r.measurement, sorted(r.tags.items())))
        return rows

    def range(self, *, gateway: str, channel: str, start_ms: int, end_ms: int,
              window_ms: int | None = None, measurement: str | None = None) -> list[RangeRow]:
        """Return the channel's points in ``[start_ms, end_ms)``, raw or aggregated per window."""
        check_range(start_ms, end_ms, window_ms)
        source = quote_ident(measurement) if measurement else _ALL
        where = _where(gateway=gateway, channel=channel) + [_time(start_ms, end_ms)]
        if window_ms is None:
            statement = f'SELECT "value", "quality" FROM {source}{_clause(where)}'
            rows = []
            for series in self._series(statement):
                cols = series["columns"]
                t, v, q = cols.index("time"), cols.index("value"), cols.index("quality")
                for rec in series["values"]:
                    value = _float(rec[v])
                    rows.append(RangeRow(rec[t], value, value, value, 0 if value is None else 1,
                                         rec[q] or "good"))
            rows.sort(key=lambda r: r.ts_ms)
            return rows
        statement = (f'SELECT mean("value"), min("value"), max("value"), count("value") '
                     f"FROM {source}{_clause(where)} GROUP BY time({window_ms}ms) fill(none)")
        rows = [RangeRow(t, _float(mean), _float(lo), _float(hi), n)
                for series in self._series(statement)
                for t, mean, lo, hi, n in series["values"] if n]
        return merge_windows(rows)

    def daily_minmax(self, *, gateway: str, channel: str, start_ms: int, end_ms: int,
                     tz: str = "UTC", measurement: str | None = None) -> list[DailyRow]:
        """Return min (with its time), max (with its time), mean and count per local day."""
        check_range(start_ms, end_ms)
        days = local_days(start_ms, end_ms, tz)
        source = quote_ident(measurement) if measurement else _ALL
        base = _where(gateway=gateway, channel=channel)
        out: list[DailyRow] = []
        for first in range(0, len(days), _STATEMENTS_PER_QUERY // 3):
            chunk = days[first:first + _STATEMENTS_PER_QUERY // 3]
            statements = []
            for _, lo, hi in chunk:
                scope = f"FROM {source}{_clause(base + [_time(lo, hi)])}"
                statements += [f'SELECT min("value") {scope}', f'SELECT max("value") {scope}',
                               f'SELECT mean("value"), count("value") {scope}']
            results = self.query(";".join(statements))
            for i, (day, lo, hi) in enumerate(chunk):
                mins, maxs, stats = (_rows(results[3 * i + k]) for k in range(3))
                mn, mn_ts = _extreme(mins, min)
                mx, mx_ts = _extreme(maxs, max)
                n = sum(r[2] for r in stats)
                mean = sum(r[1] * r[2] for r in stats) / n if n else None
                out.append(DailyRow(day, lo, hi, mn, mn_ts, mx, mx_ts, mean, n))
        return out

    def count(self, *, measurement: str | None = None, gateway: str | None = None,
              channel: str | None = None, start_ms: int | None = None,
              end_ms: int | None = None) -> int:
        """Return how many points match (null-valued points included)."""
        source = quote_ident(measurement) if measurement else _ALL
        where = _where(gateway=gateway, channel=channel)
        if start_ms is not None:
            where.append(f"time >= {int(start_ms)}ms")
        if end_ms is not None:
            where.append(f"time < {int(end_ms)}ms")
        # Every point carries the string field quality, so counting it counts points.
        statement = f'SELECT count("quality") FROM {source}{_clause(where)}'
        return sum(values[1] for series in self._series(statement) for values in series["values"])

    # ------------------------------------------------------------------ administration

    def create_database(self) -> None:
        """Create the database if it does not exist (InfluxDB 1.x; needs admin rights)."""
        self._request("POST", "/query", Message(N_("create database")),
                      data={"q": f"CREATE DATABASE {quote_ident(self.database)}"})

    def ping(self) -> bool:
        """Return True when the server answers ``/ping``."""
        try:
            resp = self._session().get(self.url + "/ping", timeout=self._timeout)
        except requests.RequestException:
            return False
        return resp.status_code == 204

    def close(self) -> None:
        """Close every HTTP session this store opened; idempotent."""
        self._closed = True
        with self._sessions_lock:
            for session in self._sessions:
                session.close()
            self._sessions.clear()

    def __repr__(self) -> str:
        return f"<InfluxStore {self.url} db={self.database!r}>"


# --------------------------------------------------------------------------- helpers


def _reason(exc: Exception) -> str:
    """Return the reason of a connection failure on one line (``Failed to establish a new
    connection: [Errno 111] Connection refused``).

    requests wraps urllib3's retry error, which wraps the socket's: the full text names the
    pool, the URL and object addresses around the reason.
    """
    inner = exc.args[0] if exc.args else exc
    text = " ".join(str(getattr(inner, "reason", None) or inner).split())
    text = re.sub(r"^.*object at 0x[0-9a-fA-F]+>: ", "", text)
    text = re.sub(r"^\w*Connection(Pool)?\([^)]*\): ", "", text)
    return text or type(exc).__name__


def _error_text(resp: requests.Response) -> str:
    try:
        body = resp.json()
    except ValueError:
        return resp.text.strip()[:500] or resp.reason
    if isinstance(body, dict) and "error" in body:
        return str(body["error"])[:500]
    return json.dumps(body)[:500]


def _where(*, gateway: str | None = None, channel: str | None = None,
           channels: Sequence[str] | None = None, asset: str | None = None) -> list[str] | None:
    """Return tag conditions; None when ``channels`` is empty (nothing can match)."""
    clauses = []
    for key, value in (("gateway", gateway), ("channel", channel), ("asset", asset)):
        if value is not None:
            clauses.append(f"{quote_ident(key)} = {quote_literal(value)}")
    if channels is not None:
        channels = list(channels)
        if not channels:
            return None
        clauses.append("(" + " OR ".join(f'"channel" = {quote_literal(c)}' for c in channels) + ")")
    return clauses


def _time(start_ms: int, end_ms: int) -> str:
    return f"time >= {int(start_ms)}ms AND time < {int(end_ms)}ms"


def _clause(where: list[str]) -> str:
    return f" WHERE {' AND '.join(where)}" if where else ""


def _float(value: Any) -> float | None:
    return None if value is None else float(value)


def _rows(result: dict) -> list[list]:
    return [values for series in result.get("series", ()) for values in series["values"]]


def _extreme(rows: list[list], pick) -> tuple[float | None, int | None]:
    """Return the extreme value of per-measurement selector rows ``[time, value]``, earliest first on ties."""
    candidates = [(float(v), t) for t, v in rows if v is not None]
    if not candidates:
        return None, None
    best = pick(v for v, _ in candidates)
    return best, min(t for v, t in candidates if v == best)
