import asyncio, time
from broker.core.store import MemoryPartitionStore
from broker.core.timers import DurableTimers

class P:
    def __init__(self, store):
        self.store = store; self.loop = asyncio.get_running_loop()
    def now_ms(self): return int(time.time()*1000)
    def schedule(self, due, cb): self.loop.call_later(max(0,(due-self.now_ms())/1000), lambda: cb(self.now_ms()))
    def flush_soon(self): pass

def test_handler_may_reschedule_its_own_timer():
    async def main():
        store = MemoryPartitionStore(0)
        fired = []
        t = None
        def h(tid, data):
            fired.append(data)
            if len(fired) < 3:
                t.schedule(tid, int(time.time()*1000) + 10, "k", data + 1)
        p = P(store)
        t = DurableTimers(p, {"k": h})
        t.schedule("same", int(time.time()*1000) + 10, "k", 1)
        for _ in range(100):
            if len(fired) == 3: break
            await asyncio.sleep(0.02)
        assert fired == [1, 2, 3]
        assert store.get("timer", "same") is None
    asyncio.run(main())
