"""Push consumers of the routing core in a shard (mixed into CoreShard).

A consumer is (queue key, tag) on the IPC connection of the gateway that
holds its client connection; tags arrive namespaced by gateway and client
connection (edge.py), so two clients never collide. When that connection
(its gateway) goes, its consumers go and their unacked deliveries are
requeued (redelivered); while it cannot take more (its socket is full), its
consumers are blocked, so a slow gateway never buffers without bound.

Generic options a front-end may ask for (AMQP uses them all):
- ``autoack``: a delivery settles the message (no-ack consumers);
- ``exclusive``: the only consumer of the queue (refused if it has others,
  and others are refused while it is there);
- single active consumer (queue config ``single_active``): later consumers
  wait on standby and take over, in order, when the active one goes;
- a cancelled consumer keeps its unacked deliveries (``keep``) until they are
  settled or its connection goes;
- ``core.Get``: one message handed to a credit-less per-channel consumer (pull
  with push semantics: it stays unacked until ack/nack or the connection goes).
"""

from __future__ import annotations

from broker.core.errors import OpError

DISPATCH_BATCH = 500        # deliveries per queue per tick


def _in_use(name: str) -> OpError:
    return OpError(f"queue '{name}' in exclusive use", code="ExclusiveConsumer", status=403)


class ConsumersMixin:
    _ahead: set = frozenset()       # queue keys with a read-ahead scheduled (a set once used)

    # -- registration -----------------------------------------------------------
    def _register(self, hq, tag, conn) -> None:
        ck = (hq.key, tag)
        self.consumers[ck] = conn
        self.by_conn.setdefault(conn, set()).add(ck)

    def _live_consumers(self, hq) -> int:
        return hq.queue.consumer_count() - len(hq.getters) - len(hq.cancelled)

    def op_Consume(self, a):
        hq = self._q(a["k"])
        self._check_owner(hq, a)
        tag = a["tag"]
        ck = (hq.key, tag)
        if ck in self.consumers:
            raise OpError(f"NOT_ALLOWED - attempt to reuse consumer tag '{tag}'", code="ConsumerTagInUse",
                          status=530)
        live = self._live_consumers(hq)
        if hq.exclusive_consumer is not None or (a.get("exclusive") and live):
            raise _in_use(hq.name)
        conn = self.shard.current_conn
        self._register(hq, tag, conn)
        standby = bool(hq.config.get("single_active")) and live > 0
        hq.queue.add_consumer(tag, a.get("credit"), autoack=bool(a.get("autoack")), standby=standby,
                              window=a.get("window", True))
        if a.get("exclusive"):
            hq.exclusive_consumer = tag
        if getattr(conn, "paused", False):
            hq.queue.set_blocked(tag, True)
        self._touch(hq)
        self._changed(hq)
        return {"active": not standby}

    def op_Credit(self, a):
        hq = self._q(a["k"])
        if not hq.queue.has_consumer(a["tag"]):
            raise self._not_found_consumer(a["tag"])
        if "set" in a:
            hq.queue.set_credit(a["tag"], a["set"])
        else:
            hq.queue.add_credit(a["tag"], a["n"])
        self._changed(hq)
        return True

    @staticmethod
    def _not_found_consumer(tag):
        from broker.runtime.routing import not_found
        return not_found(f"consumer '{tag}'")

    def op_Block(self, a):
        """Flow control from a front-end: stop/resume pushing to one consumer."""
        hq = self._q(a["k"])
        hq.queue.set_blocked(a["tag"], bool(a["blocked"]))
        self._changed(hq)
        return True

    def op_Cancel(self, a):
        """Remove a consumer; its unacked deliveries are requeued unless "keep"
        (AMQP basic.cancel leaves them to be settled by the client)."""
        hq = self.queues.get(a["k"])
        if hq is None:
            return True
        tag = a["tag"]
        if a.get("keep") and hq.queue.unacked(tag):
            if tag not in hq.cancelled:
                hq.cancelled.add(tag)
                hq.queue.set_credit(tag, 0)          # nothing more is pushed to it
                self._consumer_gone(hq, tag)
        else:
            self._drop_consumer((hq.key, tag))
        self._changed(hq)
        return True

    def _consumer_gone(self, hq, tag) -> None:
        """A consumer stopped receiving: exclusivity ends, a standby takes over,
        an auto-delete queue that lost its last consumer is deleted."""
        if hq.exclusive_consumer == tag:
            hq.exclusive_consumer = None
        q = hq.queue
        others = [t for t in q.consumers() if t != tag and t not in hq.getters and t not in hq.cancelled]
        if hq.config.get("single_active") and others:
            q.set_standby(others[0], False)
        if hq.config.get("auto_delete") and not others:
            hq.doomed = True
        self._touch(hq)

    def _drop_consumer(self, ck, requeue: bool = True):
        conn = self.consumers.pop(ck, None)
        if conn is not None:
            s = self.by_conn.get(conn)
            if s is not None:
                s.discard(ck)
                if not s:
                    del self.by_conn[conn]
        hq = self.queues.get(ck[0])
        if hq is not None and hq.queue.has_consumer(ck[1]):
            tag = ck[1]
            was_live = tag not in hq.getters and tag not in hq.cancelled
            if was_live:
                self._consumer_gone(hq, tag)
            hq.getters.discard(tag)
            hq.cancelled.discard(tag)
            if requeue:
                hq.queue.remove_consumer(tag)
        return conn

    # -- settlement -------------------------------------------------------------
    def op_Ack(self, a):
        """Settle deliveries: "seq" (one) or "seqs" (many, one call per batch);
        "relaxed": committed without an fsync of its own (broker/core/store.py)."""
        if a.get("relaxed"):
            with self.store.relaxed():
                return self._ack(a)
        return self._ack(a)

    def _ack(self, a):
        hq = self._q(a["k"])
        q = hq.queue
        seqs = a.get("seqs") or (a["seq"],)
        ok = 0
        for seq in seqs:
            ok += q.ack(seq)
        self._settled(hq)
        self._changed(hq)
        return ok if "seqs" in a else bool(ok)

    def op_Nack(self, a):
        """Requeue (at the original position, redelivered) or, with requeue false,
        remove and dead-letter with reason "rejected"; "relaxed" as in op_Ack."""
        if a.get("relaxed"):
            with self.store.relaxed():
                return self._nack(a)
        return self._nack(a)

    def _nack(self, a):
        hq = self._q(a["k"])
        requeue = a.get("requeue", True)
        seqs = a.get("seqs") or (a["seq"],)
        dead, spent = [], []
        n = 0
        q = hq.queue
        maxr = hq.config.get("max_receives")
        for seq in seqs:
            back = requeue
            if back and maxr:       # a delivery limit is checked when the message returns
                cur = q.get(seq)
                if cur is not None and cur.receive_count >= maxr:
                    back = False
            m = q.nack(seq, back)
            if m is not None:
                n += 1
                if not back:
                    (dead if not requeue else spent).append(m)
        self._dead_letter(hq, dead, "rejected")
        self._dead_letter(hq, spent, "delivery_limit")
        self._settled(hq)
        self._changed(hq)
        return n if "seqs" in a else n > 0

    def _settled(self, hq) -> None:
        """Cancelled consumers whose last delivery was settled are removed."""
        if hq.cancelled:
            q = hq.queue
            for tag in [t for t in hq.cancelled if not q.unacked(t)]:
                self._drop_consumer((hq.key, tag))

    def op_Get(self, a):
        """basic.get: the next message to the caller's per-channel pseudo consumer
        ``tag`` (registered on first use, never pushed to). Returns
        [seq, payload, redelivered, msg_id, messages left] or None."""
        hq = self._q(a["k"])
        self._check_owner(hq, a)
        tag = a["tag"]
        q = hq.queue
        if not q.has_consumer(tag):
            q.add_consumer(tag, 0)
            hq.getters.add(tag)
            self._register(hq, tag, self.shard.current_conn)
        autoack = bool(a.get("autoack"))
        res = q.get_for(tag, self.part.now_ms(), autoack)
        self._dead_letter(hq, res.dead, "delivery_limit")
        self._dead_letter(hq, res.expired, "expired")
        self._touch(hq)
        out = None
        if res:
            m = res[0][1]
            out = [m.seq, self._payload(hq, m), m.receive_count > 1, m.msg_id, q.visible]
            if autoack and m.payload is None:
                out[1] = self._payload(hq, m)
        self._changed(hq)
        return out

    def op_Recover(self, a):
        """Requeue every unacked delivery of the given consumer tags (basic.recover)."""
        hq = self._q(a["k"])
        q = hq.queue
        n = 0
        for tag in a["tags"]:
            for m in q.unacked(tag):
                q.nack(m.seq, True)
                n += 1
        self._settled(hq)
        self._changed(hq)
        return n

    # -- dispatch and connection lifecycle ----------------------------------------
    def _dispatch(self, hq) -> None:
        if not self.consumers:
            return
        q = hq.queue
        deliveries = q.dispatch(self.part.now_ms(), DISPATCH_BATCH)
        if len(deliveries) == DISPATCH_BATCH and not hq.redispatch:
            # more next tick: a gateway whose client is slow gets to block the
            # consumer (edge.block) before the shard pushes it everything
            hq.redispatch = True
            self.shard.loop.call_soon(self._redispatch, hq)
        if q.pages and q.ahead_due() and hq.key not in self._ahead:
            # read the next spilled chunk back after this tick's pushes and commit, not
            # at the dispatch that finds the window empty (a pause the consumer waits out)
            if not self._ahead:
                self._ahead = set()
            self._ahead.add(hq.key)
            loop = self.shard.loop
            loop.call_soon(loop.call_soon, self._read_ahead, hq)
        if deliveries.dead:
            self._dead_letter(hq, deliveries.dead, "delivery_limit")
        if deliveries.expired:
            self._dead_letter(hq, deliveries.expired, "expired")
        if not deliveries:
            return
        # one push frame per gateway connection and tick: [key, [[tag, [[seq, payload, redelivered
        # (, msg_id)]...]]...]]: the consumer tag once per run, msg_id only when there is one (AMQP's
        # and MQTT's are empty); not held for the group commit: a delivery acknowledges nothing
        # (ipc.py), and the consumer's next acks (the credit for more) come back a commit sooner
        missing = [m.seq for _t, m in deliveries if m.payload is None]
        loaded = self._payloads(hq, missing) if missing else None
        batches: dict = {}          # conn -> {tag: [entry...]}
        consumers = self.consumers
        key = hq.key
        last = entries = None
        for tag, m in deliveries:
            if tag != last:
                last = tag
                conn = consumers.get((key, tag))
                if conn is None or conn.closed:
                    entries = None
                else:
                    per = batches.get(conn)
                    if per is None:
                        per = batches[conn] = {}
                    entries = per.get(tag)
                    if entries is None:
                        entries = per[tag] = []
            if entries is None:
                q.nack(m.seq, True)
                continue
            payload = m.payload if m.payload is not None else loaded.get(m.seq)
            if m.msg_id:
                entries.append((m.seq, payload, m.receive_count > 1, m.msg_id))
            else:
                entries.append((m.seq, payload, m.receive_count > 1))
        for conn, per in batches.items():
            conn.push("core.deliver", [key, list(per.items())], now=True)

    def _read_ahead(self, hq) -> None:
        self._ahead.discard(hq.key)
        if hq.dead or self.closed or self.queues.get(hq.key) is not hq:
            return
        with self.store.relaxed():      # the chunk record's removal needs no fsync of its own
            if hq.queue.read_ahead():
                self.part.flush_soon()

    def _redispatch(self, hq) -> None:
        hq.redispatch = False
        if not hq.dead and not self.closed and self.queues.get(hq.key) is hq:
            self._changed(hq)
            self.part.flush_soon()

    def _conn_lost(self, conn) -> None:
        """A gateway went away: its consumers go, their deliveries are requeued,
        the exclusive queues its connections owned are deleted."""
        cks = self.by_conn.pop(conn, None) or ()
        touched = set()
        for ck in cks:
            self._drop_consumer(ck)
            if ck[0] in self.queues:
                touched.add(ck[0])
        for key in touched:
            hq = self.queues.get(key)
            if hq is not None:
                self._changed(hq)
        for hq in [hq for hq in self.queues.values() if hq.owner_conn is conn]:
            self._reap(hq)          # deleted, and unbound everywhere (not just here)
        self.part.flush_soon()

    def _conn_paused(self, conn, paused: bool) -> None:
        cks = self.by_conn.get(conn)
        if not cks:
            return
        touched = set()
        for key, tag in cks:
            hq = self.queues.get(key)
            if hq is not None:
                hq.queue.set_blocked(tag, paused)
                touched.add(key)
        if not paused:
            for key in touched:
                self._changed(self.queues[key])
            self.part.flush_soon()
