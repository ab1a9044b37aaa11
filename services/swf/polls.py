"""Long polls on task lists: PollForDecisionTask and PollForActivityTask.

A poll takes the head task at once if there is one; otherwise it parks a
waiter and returns a future. Scheduling a task wakes the oldest waiter of
its list at the end of the operation that scheduled it (event-driven, no
polling loop). A waiter ends with an empty task after 60 seconds, when its
gateway drains, or when the IPC connection it came on is lost; when its
HTTP client goes away the runtime cancels the pending reply (an IPC
CANCEL), which cancels the waiter's future, so no task is handed to a
poller that is gone.
"""

from __future__ import annotations

import asyncio

from services.swf.model import POLL_WAIT_MS
from services.swf.state import DecisionTask, Domain
from services.swf.tasklists import TaskList, Waiter

EMPTY_DECISION = {"taskToken": "", "startedEventId": 0, "previousStartedEventId": 0}
EMPTY_ACTIVITY = {"taskToken": "", "startedEventId": 0}


class PollMixin:
    waiters: dict     # waiter id -> (task list, Waiter)

    def poll(self, domain: Domain, lists: dict, name: str, args: dict, conn=None):
        """A task for `args` now, or a future resolved with one (or an empty one)."""
        tl = domain.tasklist(lists, name)
        task = tl.pop()
        if task is not None:
            return self._hand(task, args)
        empty = EMPTY_DECISION if lists is domain.dlists else EMPTY_ACTIVITY
        wait = args.get("wait", POLL_WAIT_MS)
        if not wait:
            return dict(empty)
        fut = asyncio.get_running_loop().create_future()
        w = Waiter(fut, args, args.get("g"), conn, args.get("w") or id(fut))
        tl.waiters.append(w)
        self.waiters[w.wid] = (tl, w, empty)
        fut.add_done_callback(lambda _f, wid=w.wid: self._forget(wid))
        self.part.schedule(self.now() + wait, lambda _now: self._end_wait(w.wid))
        return fut

    def _hand(self, task, args: dict) -> dict:
        identity = args.get("id")
        if isinstance(task, DecisionTask):
            ex = task.ex
            self.start_decision(ex, identity)
            return self.decision_task(ex, task.s, task.st, args.get("page") or 1000, bool(args.get("rev")),
                                      bool(args.get("prev")))
        return self.start_activity(task, identity)

    def wake(self, domain: Domain, lists: dict, tl: TaskList) -> None:
        """Hand queued tasks to the waiting polls of `tl`, oldest poll first."""
        while tl.live:
            w = tl.next_waiter()
            if w is None:
                return
            task = tl.pop()
            tl.waiters.popleft()
            self.waiters.pop(w.wid, None)
            w.fut.set_result(self._hand(task, w.args))

    def _forget(self, wid) -> None:
        entry = self.waiters.pop(wid, None)
        if entry is not None:
            try:
                entry[0].waiters.remove(entry[1])
            except ValueError:
                pass

    def _end_wait(self, wid) -> None:
        """The wait is over without a task: answer the poll with an empty one."""
        entry = self.waiters.get(wid)
        if entry is not None and not entry[1].fut.done():
            entry[1].fut.set_result(dict(entry[2]))
        self._forget(wid)

    def release_waiters(self, gateway=None, conn=None) -> int:
        """End the polls of a draining gateway, of a lost IPC connection, or all."""
        ids = [wid for wid, (_tl, w, _e) in self.waiters.items()
               if (gateway is not None and w.gateway == gateway) or (conn is not None and w.conn is conn)
               or (gateway is None and conn is None)]
        for wid in ids:
            self._end_wait(wid)
        return len(ids)
