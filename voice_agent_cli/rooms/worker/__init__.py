"""``va serve``: the agent as a LiveKit agent worker (LiveKit dispatches rooms to it).

::

    LiveKit server ──(agent protocol: protobuf over a websocket)──► Worker
        offers a job per room ─► accept / decline (capacity, CPU, draining)
        assigns it with a token ─► run_job(job, url, token) ─► the room agent of va join
    Worker ─► load reports, job statuses; SIGTERM ─► drain ─► exit 0

:mod:`.protocol` is the protobuf boundary, :mod:`.worker` the worker,
:mod:`.job` what a job handler sees; the fake server the tests use is
:mod:`voice_agent_cli.testing.fake_dispatcher`.
"""

from voice_agent_cli.rooms.worker.job import Job, StopReason
from voice_agent_cli.rooms.worker.settings import ServeSettings
from voice_agent_cli.rooms.worker.worker import RunJob, Worker, serve_until_signalled

__all__ = ["Job", "RunJob", "ServeSettings", "StopReason", "Worker", "serve_until_signalled"]
