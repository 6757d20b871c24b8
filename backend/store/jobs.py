"""Jobs and their logs in the store: every state change of a job is one conditional
UPDATE, so several API processes and workers (on SQLite or PostgreSQL) never run a job
twice or lose one.
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from sqlalchemy import delete, select, update

from backend.store.database import Database, changed
from backend.store.models import Job, JobLog, utcnow
from core.errors import JobNotFound

LEVELS = ["debug", "info", "warning", "error"]


class Jobs(Database):
    """Jobs and their logs: the API's side (create, edit, queue, cancel) and the workers'
    side (claim, heartbeat, finish, fail, requeue, reap)."""

    # -- jobs: API side -----------------------------------------------------------------
    def create_job(self, user: str, process: dict, **fields: Any) -> Job:
        job = Job(
            id=f"j-{uuid.uuid4().hex}",
            user_id=user,
            process=process,
            status="created",
            created=utcnow(),
            updated=utcnow(),
            **fields,
        )
        with self.session() as s:
            s.add(job)
        self.log(job.id, "info", "Job created.")
        return job

    def job(self, user: str, job_id: str) -> Job:
        """The user's job; anyone else's is 'not found'."""
        with self.session() as s:
            job = s.get(Job, job_id)
            if job is None or job.user_id != user:
                raise JobNotFound(identifier=job_id)
            return job

    def jobs(self, user: str, limit: int, after: str | None = None) -> tuple[list[Job], bool]:
        """A page of the user's jobs, newest first, and whether more follow."""
        with self.session() as s:
            query = select(Job).where(Job.user_id == user)
            if after:
                ref = s.get(Job, after)
                if ref is not None and ref.user_id == user:
                    query = query.where(
                        (Job.created < ref.created)
                        | ((Job.created == ref.created) & (Job.id < ref.id))
                    )
            rows = s.scalars(
                query.order_by(Job.created.desc(), Job.id.desc()).limit(limit + 1)
            ).all()
        return list(rows[:limit]), len(rows) > limit

    def update_job(self, user: str, job_id: str, fields: dict[str, Any]) -> bool:
        """Change title, description, process, ... unless the job is queued or running."""
        self.job(user, job_id)
        with self.session() as s:
            done = changed(
                s.execute(
                    update(Job)
                    .where(
                        Job.id == job_id,
                        Job.user_id == user,
                        Job.status.not_in(["queued", "running"]),
                    )
                    .values(updated=utcnow(), **fields)
                )
            )
        return bool(done)

    def delete_job(self, user: str, job_id: str) -> Job:
        job = self.job(user, job_id)
        with self.session() as s:
            s.execute(delete(JobLog).where(JobLog.job_id == job_id))
            s.execute(delete(Job).where(Job.id == job_id, Job.user_id == user))
        return job

    def queue(self, user: str, job_id: str) -> bool:
        """created/finished/error/canceled -> queued; a queued or running job stays as it is."""
        self.job(user, job_id)
        now = utcnow()
        with self.session() as s:
            done = changed(
                s.execute(
                    update(Job)
                    .where(Job.id == job_id, Job.status.not_in(["queued", "running"]))
                    .values(
                        status="queued",
                        queued_at=now,
                        updated=now,
                        progress=0.0,
                        started=None,
                        finished=None,
                        worker_id=None,
                        heartbeat_at=None,
                    )
                )
            )
        if done:
            self.log(job_id, "info", "Job queued.")
        return bool(done)

    def cancel(self, user: str, job_id: str) -> bool:
        """queued/running -> canceled; the worker running it stops the computation."""
        self.job(user, job_id)
        with self.session() as s:
            done = changed(
                s.execute(
                    update(Job)
                    .where(Job.id == job_id, Job.status.in_(["queued", "running"]))
                    .values(status="canceled", updated=utcnow(), finished=utcnow())
                )
            )
        if done:
            self.log(job_id, "info", "Job canceled by the user.")
        return bool(done)

    # -- jobs: worker side --------------------------------------------------------------
    def claim(self, worker_id: str) -> Job | None:
        """Take the oldest queued job: a compare-and-set on its status, so one worker wins."""
        for _ in range(10):
            with self.session() as s:
                candidate = s.scalars(
                    select(Job.id)
                    .where(Job.status == "queued")
                    .order_by(Job.queued_at, Job.id)
                    .limit(1)
                ).first()
                if candidate is None:
                    return None
                now = utcnow()
                won = changed(
                    s.execute(
                        update(Job)
                        .where(Job.id == candidate, Job.status == "queued")
                        .values(
                            status="running",
                            worker_id=worker_id,
                            started=now,
                            heartbeat_at=now,
                            updated=now,
                            progress=0.0,
                        )
                    )
                )
            if won:
                self.log(candidate, "info", f"Job started on worker {worker_id}.")
                with self.session() as s:
                    return s.get(Job, candidate)
        return None

    def heartbeat(self, job_id: str, worker_id: str, progress: float | None = None) -> str | None:
        """Record that the worker is alive; returns the job's status (None: gone or taken)."""
        values: dict[str, Any] = {"heartbeat_at": utcnow()}
        if progress is not None:
            values["progress"] = progress
        with self.session() as s:
            s.execute(
                update(Job)
                .where(Job.id == job_id, Job.worker_id == worker_id, Job.status == "running")
                .values(**values)
            )
            row = s.execute(select(Job.status, Job.worker_id).where(Job.id == job_id)).first()
        if row is None or row.worker_id != worker_id:
            return None
        return row.status

    def set_progress(self, job_id: str, progress: float) -> None:
        with self.session() as s:
            s.execute(
                update(Job)
                .where(Job.id == job_id, Job.status == "running")
                .values(progress=progress)
            )

    def get(self, job_id: str) -> Job | None:
        """A job whoever owns it (for workers)."""
        with self.session() as s:
            return s.get(Job, job_id)

    def _end(self, job_id: str, owner: str, status: str, **values: Any) -> bool:
        """running -> status, only for the worker that owns the job."""
        with self.session() as s:
            return bool(
                changed(
                    s.execute(
                        update(Job)
                        .where(Job.id == job_id, Job.worker_id == owner, Job.status == "running")
                        .values(status=status, updated=utcnow(), **values)
                    )
                )
            )

    def finish(self, job_id: str, worker_id: str, results: dict[str, Any]) -> bool:
        ok = self._end(
            job_id, worker_id, "finished", finished=utcnow(), progress=100.0, results=results
        )
        if ok:
            self.log(job_id, "info", f"Job finished: {len(results.get('assets', {}))} asset(s).")
        return ok

    def fail(
        self, job_id: str, worker_id: str, code: str, message: str, node: str | None = None
    ) -> bool:
        ok = self._end(job_id, worker_id, "error", finished=utcnow())
        if ok:
            self.log(job_id, "error", message, code=code, data={"node": node} if node else None)
        return ok

    def requeue(self, job_id: str, worker_id: str, reason: str) -> bool:
        ok = self._end(
            job_id,
            worker_id,
            "queued",
            worker_id=None,
            started=None,
            heartbeat_at=None,
            progress=0.0,
            queued_at=utcnow(),
        )
        if ok:
            self.log(job_id, "warning", f"Job re-queued: {reason}")
        return ok

    def reap(self, stale_after_s: float) -> list[str]:
        """Running jobs whose worker stopped sending heartbeats become errors."""
        limit = utcnow() - dt.timedelta(seconds=stale_after_s)
        with self.session() as s:
            stale = s.execute(
                select(Job.id, Job.worker_id).where(
                    Job.status == "running", Job.heartbeat_at < limit
                )
            ).all()
        reaped = []
        for job_id, worker_id in stale:
            with self.session() as s:
                done = changed(
                    s.execute(
                        update(Job)
                        .where(
                            Job.id == job_id,
                            Job.status == "running",
                            Job.worker_id == worker_id,
                            Job.heartbeat_at < limit,
                        )
                        .values(status="error", updated=utcnow(), finished=utcnow())
                    )
                )
            if done:
                reaped.append(job_id)
                self.log(
                    job_id,
                    "error",
                    f"Worker {worker_id} stopped sending heartbeats for more than "
                    f"{stale_after_s:g} s (it died or was killed); the job is marked as "
                    "error. Start it again to retry.",
                    code="WorkerLost",
                )
        return reaped

    def expired_jobs(self, days: float) -> list[Job]:
        """Jobs that ended more than `days` ago (their results are due for deletion)."""
        limit = utcnow() - dt.timedelta(days=days)
        with self.session() as s:
            return list(
                s.scalars(
                    select(Job).where(
                        Job.finished.is_not(None), Job.finished < limit, Job.results.is_not(None)
                    )
                )
            )

    def clear_results(self, job_id: str) -> None:
        with self.session() as s:
            s.execute(update(Job).where(Job.id == job_id).values(results=None))

    # -- logs ---------------------------------------------------------------------------
    def log(
        self,
        job_id: str,
        level: str,
        message: str,
        code: str | None = None,
        data: dict | None = None,
    ) -> None:
        with self.session() as s:
            s.add(
                JobLog(
                    job_id=job_id, level=level, message=message, code=code, data=data, time=utcnow()
                )
            )

    def logs(
        self, job_id: str, after: int | None, min_level: str, limit: int
    ) -> tuple[list[JobLog], bool]:
        levels = LEVELS[LEVELS.index(min_level) :]
        with self.session() as s:
            query = select(JobLog).where(JobLog.job_id == job_id, JobLog.level.in_(levels))
            if after is not None:
                query = query.where(JobLog.id > after)
            rows = s.scalars(query.order_by(JobLog.id).limit(limit + 1)).all()
        return list(rows[:limit]), len(rows) > limit
