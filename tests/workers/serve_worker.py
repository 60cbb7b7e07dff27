"""A ``va serve`` worker process whose jobs join nothing: the protocol under test, not rooms.

``python serve_worker.py URL AGENT_NAME MAX_JOBS TURN_S`` with LIVEKIT_API_KEY and
LIVEKIT_API_SECRET set. Each job holds its slot until the worker asks it to
stop; on a drain it first "finishes its turn" (sleeps TURN_S). Every worker
event is printed as one JSON line; the exit code is the worker's (0 after a
drain, 130 after a second signal).
"""

from __future__ import annotations

import asyncio
import json
import os
import sys

from voice_agent_cli.rooms.worker import Job, ServeSettings, Worker, serve_until_signalled
from voice_agent_cli.rooms.worker.events import WorkerEvent, event_json


def print_event(event: WorkerEvent) -> None:
    print(json.dumps(event_json(event)), flush=True)


async def main(url: str, agent_name: str, max_jobs: int, turn_s: float) -> int:
    async def run_job(job: Job, url: str, token: str) -> None:
        reason = await job.wait_stop()
        if reason == "draining":
            await asyncio.sleep(turn_s)

    worker = Worker(
        url=url,
        api_key=os.environ["LIVEKIT_API_KEY"],
        api_secret=os.environ["LIVEKIT_API_SECRET"],
        run_job=run_job,
        settings=ServeSettings(agent_name=agent_name, max_jobs=max_jobs, status_interval_s=0.5),
        on_event=print_event,
        # The machine's CPU is shared with other tests: a fixed load keeps the dispatch
        # deterministic (declining by CPU is tested in-process with a given load).
        cpu_load=lambda: 0.0,
    )
    return await serve_until_signalled(worker)


if __name__ == "__main__":
    url, agent_name, max_jobs, turn_s = sys.argv[1:5]
    sys.exit(asyncio.run(main(url, agent_name, int(max_jobs), float(turn_s))))
