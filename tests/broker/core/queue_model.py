"""An obviously-correct (slow: lists, dicts, sorting) reference model of
``broker.core.queue.Queue`` and a journal that snapshots records."""

from __future__ import annotations

from broker.core.message import (
    DELAYED, GONE, INFLIGHT, READY, REJECT_PUBLISH, TRANSITIONS, DedupRecord, Message,
)


class RecordingJournal:
    """Keeps the last persisted record per seq (snapshots, not references),
    checks each message is reported at most once per call and every change
    follows ``TRANSITIONS``."""

    def __init__(self):
        self.records: dict[int, tuple] = {}
        self.dedup: dict[object, tuple] = {}
        self.touched: set[int] = set()

    def begin(self):
        self.touched = set()

    def _touch(self, m):
        assert m.seq not in self.touched, f"journal called twice for seq {m.seq} in one call"
        self.touched.add(m.seq)

    def inserted(self, q, m):
        self._touch(m)
        assert m.seq not in self.records
        assert m.state in (READY, DELAYED)
        self.records[m.seq] = m.to_record()

    def updated(self, q, m):
        self._touch(m)
        old = self.records[m.seq]
        # within one call a message may pass through READY (e.g. DELAYED->READY->INFLIGHT)
        assert m.state == old[13] or m.state in TRANSITIONS[old[13]] or \
            (old[13] == DELAYED and m.state == INFLIGHT), (old, m)
        self.records[m.seq] = m.to_record()

    def removed(self, q, m):
        self._touch(m)
        assert m.state == GONE
        del self.records[m.seq]

    def dedup_added(self, q, rec):
        self.dedup[rec.key] = rec.to_record()

    def dedup_expired(self, q, rec):
        assert self.dedup.get(rec.key) == rec.to_record()
        del self.dedup[rec.key]

    def restore_args(self):
        msgs = [Message.from_record(r) for r in self.records.values()]
        recs = [DedupRecord.from_record(r) for r in self.dedup.values()]
        return msgs, recs


class MM:
    def __init__(self, **kw):
        self.__dict__.update(kw)


class MConsumer:
    def __init__(self, tag, credit):
        self.tag = tag
        self.credit = credit
        self.unacked: set[int] = set()
        self.in_ring = False
        self.active = True

    def cap(self):
        return self.credit is None or len(self.unacked) < self.credit


class Model:
    def __init__(self, cfg):
        self.cfg = cfg
        self.msgs: dict[int, MM] = {}
        self.next_seq = 1
        self.dedup: dict[object, tuple] = {}  # key -> (seq, msg_id, expires_at)
        self.consumers: dict[object, MConsumer] = {}
        self.ring: list[MConsumer] = []

    # ---- helpers
    def live(self, state=None):
        return [m for m in sorted(self.msgs.values(), key=lambda m: m.seq)
                if state is None or m.state == state]

    def counts(self):
        c = {READY: 0, INFLIGHT: 0, DELAYED: 0}
        for m in self.msgs.values():
            c[m.state] += 1
        return c

    def qbytes(self):
        return sum(m.size for m in self.msgs.values() if m.state != INFLIGHT)

    def order_key(self, m):
        return (-m.priority if self.cfg.max_priority is not None else 0, m.seq)

    def maybe_ring(self, c):
        if c.active and not c.in_ring and c.cap():
            c.in_ring = True
            self.ring.append(c)

    def release(self, m):
        if m.consumer is not None:
            c = self.consumers.get(m.consumer)
            m.consumer = None
            if c is not None:
                c.unacked.discard(m.seq)
                self.maybe_ring(c)

    def remove(self, m):
        if m.state == INFLIGHT:
            self.release(m)
        m.state = GONE
        del self.msgs[m.seq]

    def make_ready(self, m):
        if m.state == INFLIGHT:
            self.release(m)
        m.state = READY

    def expired(self, m, now):
        return m.expires_at is not None and m.expires_at <= now

    def dead(self, m):
        return self.cfg.max_receives is not None and m.receive_count >= self.cfg.max_receives

    def deliver(self, m, now, lease_ms, tag):
        m.state = INFLIGHT
        m.receive_count += 1
        m.lease += 1
        if m.first_receive_at is None:
            m.first_receive_at = now
        if tag is None:
            m.visible_at = now + lease_ms
        else:
            m.consumer = tag

    def advance(self, now, expired):
        n = 0
        for m in self.live():
            due = (m.state == DELAYED or (m.state == INFLIGHT and m.consumer is None)) and m.visible_at <= now
            if due:
                if self.expired(m, now):
                    self.remove(m)
                    expired.append(m.seq)
                else:
                    self.make_ready(m)
                    n += 1
        return n

    def group_msgs(self, g):
        return [m for m in self.live() if m.group == g]

    def available_groups(self):
        heads = {}
        for g in {m.group for m in self.msgs.values()}:
            ms = self.group_msgs(g)
            if ms and not any(m.state == INFLIGHT for m in ms) and ms[0].state == READY:
                heads[g] = ms[0].seq
        return sorted(heads, key=heads.get)

    # ---- operations (return comparable plain values)
    def enqueue(self, now, size, msg_id, delay_ms, dedup, group, priority, ttl_ms):
        cfg = self.cfg
        key = None
        if dedup is not None and cfg.dedup_window_ms is not None:
            key = dedup if cfg.dedup_scope == "queue" else (group, dedup)
            rec = self.dedup.get(key)
            if rec is not None and rec[2] > now:
                return ("dup", rec[0])
            self.dedup.pop(key, None)
        c = self.counts()
        if cfg.overflow == REJECT_PUBLISH:
            if (cfg.max_length is not None and c[READY] + c[DELAYED] >= cfg.max_length) or \
                    (cfg.max_bytes is not None and self.qbytes() + size > cfg.max_bytes):
                return ("rejected",)
        seq = self.next_seq
        self.next_seq += 1
        if cfg.max_priority is not None:
            priority = max(0, min(cfg.max_priority, priority))
        ret = cfg.retention_ms
        if ttl_ms is not None:
            ret = ttl_ms if ret is None else min(ret, ttl_ms)
        delay = cfg.delay_ms if delay_ms is None else delay_ms
        m = MM(seq=seq, msg_id=msg_id, size=size, group=group, dedup=dedup, priority=priority,
               enqueued_at=now, visible_at=now + delay if delay > 0 else now,
               expires_at=None if ret is None else now + ret, receive_count=0,
               first_receive_at=None, lease=0, state=DELAYED if delay > 0 else READY, consumer=None)
        self.msgs[seq] = m
        dropped = []
        if cfg.overflow != REJECT_PUBLISH and (cfg.max_length is not None or cfg.max_bytes is not None):
            while True:
                c = self.counts()
                if not ((cfg.max_length is not None and c[READY] + c[DELAYED] > cfg.max_length)
                        or (cfg.max_bytes is not None and self.qbytes() > cfg.max_bytes)):
                    break
                ready = self.live(READY)
                if not ready:
                    break
                victim = min(ready, key=(lambda m: m.seq) if cfg.fifo else self.order_key)
                self.remove(victim)
                dropped.append(victim.seq)
        if key is not None:
            self.dedup[key] = (seq, msg_id, now + cfg.dedup_window_ms)
        return ("ok", seq, dropped)

    def receive(self, now, max_n, lease_ms):
        out, dead, expired = [], [], []
        self.advance(now, expired)
        if not self.cfg.fifo:
            for m in sorted(self.live(READY), key=self.order_key):
                if len(out) >= max_n:
                    break
                if self.expired(m, now):
                    self.remove(m)
                    expired.append(m.seq)
                elif self.dead(m):
                    self.remove(m)
                    dead.append(m.seq)
                else:
                    self.deliver(m, now, lease_ms, None)
                    out.append(m.seq)
        else:
            while len(out) < max_n:
                groups = self.available_groups()
                if not groups:
                    break
                for m in self.group_msgs(groups[0]):
                    if m.state != READY or len(out) >= max_n:
                        break
                    if self.expired(m, now):
                        self.remove(m)
                        expired.append(m.seq)
                    elif self.dead(m):
                        self.remove(m)
                        dead.append(m.seq)
                    else:
                        self.deliver(m, now, lease_ms, None)
                        out.append(m.seq)
        return out, sorted(dead), sorted(expired)

    def _next_for_dispatch(self, now, dead, expired):
        if not self.cfg.fifo:
            for m in sorted(self.live(READY), key=self.order_key):
                if self.expired(m, now):
                    self.remove(m)
                    expired.append(m.seq)
                elif self.dead(m):
                    self.remove(m)
                    dead.append(m.seq)
                else:
                    return m
            return None
        while True:
            groups = self.available_groups()
            if not groups:
                return None
            for m in self.group_msgs(groups[0]):
                if m.state != READY:
                    break
                if self.expired(m, now):
                    self.remove(m)
                    expired.append(m.seq)
                elif self.dead(m):
                    self.remove(m)
                    dead.append(m.seq)
                else:
                    return m

    def dispatch(self, now, limit):
        out, dead, expired = [], [], []
        if not self.ring:
            return out, dead, expired
        self.advance(now, expired)
        while limit is None or len(out) < limit:
            while self.ring and not (self.ring[0].active and self.ring[0].cap()):
                self.ring.pop(0).in_ring = False
            if not self.ring:
                break
            c = self.ring[0]
            m = self._next_for_dispatch(now, dead, expired)
            if m is None:
                break
            self.ring.pop(0)
            self.deliver(m, now, 0, c.tag)
            c.unacked.add(m.seq)
            if c.cap():
                self.ring.append(c)
            else:
                c.in_ring = False
            out.append((c.tag, m.seq))
        return out, sorted(dead), sorted(expired)

    def change_lease(self, now, seq, lease, lease_ms):
        self.advance(now, [])
        m = self.msgs.get(seq)
        if m is None:
            return "not_found"
        if m.lease != lease:
            return "stale"
        if m.state != INFLIGHT or m.consumer is not None:
            return "not_inflight"
        if lease_ms <= 0:
            self.make_ready(m)
        else:
            m.visible_at = now + lease_ms
        return True

    def delete(self, seq, lease):
        m = self.msgs.get(seq)
        if m is None or (lease is not None and m.lease != lease):
            return False
        self.remove(m)
        return True

    def ack(self, seq):
        m = self.msgs.get(seq)
        if m is None or m.state != INFLIGHT:
            return False
        self.remove(m)
        return True

    def nack(self, seq, requeue):
        m = self.msgs.get(seq)
        if m is None or m.state != INFLIGHT:
            return None
        if requeue:
            self.make_ready(m)
        else:
            self.remove(m)
        return seq

    def add_consumer(self, tag, credit):
        c = self.consumers[tag] = MConsumer(tag, credit)
        self.maybe_ring(c)

    def set_credit(self, tag, credit):
        c = self.consumers[tag]
        c.credit = credit
        self.maybe_ring(c)

    def remove_consumer(self, tag):
        c = self.consumers.pop(tag)
        c.active = False
        seqs = sorted(c.unacked)
        c.unacked = set()
        for s in seqs:
            m = self.msgs[s]
            m.consumer = None
            m.state = READY
        return seqs

    def purge(self, include_inflight):
        victims = [m for m in self.live() if include_inflight or m.state != INFLIGHT]
        for m in victims:
            self.remove(m)
        return len(victims)

    def tick(self, now):
        expired = []
        ready = self.advance(now, expired)
        for m in self.live():
            if m.state in (READY, DELAYED) and self.expired(m, now):
                self.remove(m)
                expired.append(m.seq)
        for k, rec in list(self.dedup.items()):
            if rec[2] <= now:
                del self.dedup[k]
        return sorted(expired), ready

    def next_deadline(self):
        cands = []
        for m in self.msgs.values():
            if m.state == DELAYED or (m.state == INFLIGHT and m.consumer is None):
                cands.append(m.visible_at)
            if m.state in (READY, DELAYED) and m.expires_at is not None:
                cands.append(m.expires_at)
        cands.extend(r[2] for r in self.dedup.values())
        return min(cands) if cands else None

    def restart(self):
        """What restore does: consumers are gone, their deliveries requeued."""
        for c in self.consumers.values():
            c.active = False
        self.consumers = {}
        self.ring = []
        for m in self.msgs.values():
            if m.state == INFLIGHT and m.consumer is not None:
                m.consumer = None
                m.state = READY
