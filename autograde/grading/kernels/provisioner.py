"""SandboxProvisioner: how jupyter_client starts a student's kernel for the grader.

Registered under jupyter_client's `jupyter_client.kernel_provisioners` entry point as
"autograde-sandbox" (pyproject.toml); SandboxKernelManager names it, with its settings, in the
kernel spec it hands out, and jupyter_client's provisioner factory builds it from there.

Each kernel gets a private folder of its own (its connection file and its ipc sockets, the only part
of the grader's filesystem besides its working copy that the sandbox shows it). The kernel is then
either forked from the grading worker's warm fork server (forked_kernels.py), when the settings ask
for it, the sandbox allows it and the working copy lies in the worker's slot, or started as a new
process behind the sandbox launcher (sandbox.py).
"""
import os
import shutil
from pathlib import Path

from jupyter_client.provisioning import LocalProvisioner
from traitlets import Bool, Integer, List, Unicode

from autograde.grading.kernels import forked_kernels, kernel_plan, sandbox

NAME = "autograde-sandbox"  # its name among jupyter_client's kernel provisioners


class SandboxProvisioner(LocalProvisioner):
    """LocalProvisioner with the sandbox in front of the kernel, or a fork of the warm server in
    place of a new process."""

    # the plan (kernel_plan.Plan) the grader made, as plain values: a kernel spec holds JSON
    bwrap = Unicode("")
    landlock = Integer(0)
    user = Unicode("")
    cgroup = Unicode("")
    memory_mb = Integer(0)
    file_mb = Integer(0)
    threads = Integer(0)
    forked = Bool(False, help="fork the kernel from the worker's fork server where it can be")
    preload = List(Unicode(), help="modules the fork server imports for its kernels' first use")

    kernel_dir = ""
    server = None  # the fork server this kernel comes from, if forked

    @property
    def plan(self):
        return kernel_plan.Plan(self.bwrap, self.landlock, self.user, self.cgroup)

    async def pre_launch(self, **kwargs):
        self.server = self._fork_server(kwargs.get("cwd"))
        self.kernel_dir = self.server.new_kernel_dir() if self.server else kernel_plan.make_kernel_dir()
        km = self.parent
        km.transport = "ipc"
        km.connection_file = os.path.join(self.kernel_dir, "kernel.json")
        km.ip = os.path.join(self.kernel_dir, "kernel")  # sockets kernel-1 ... kernel-5
        kwargs = await super().pre_launch(**kwargs)
        if not self.server:
            kwargs["cmd"] = kernel_plan.launcher_command(
                self.plan, self.memory_mb, self.file_mb, self.threads, self.kernel_dir) + kwargs["cmd"]
        return kwargs

    def _fork_server(self, cwd):
        """The grading worker's fork server when this kernel is to be forked from it, else None."""
        if not self.forked or not cwd or not forked_kernels.usable(self.plan) or not forked_kernels.owns(cwd):
            return None
        return forked_kernels.server_for(self.plan, self.memory_mb, self.file_mb, self.threads)

    async def launch_kernel(self, cmd, **kwargs):
        if not self.server:
            return await super().launch_kernel(cmd, **kwargs)
        # The server runs ipykernel itself, on the connection file written in pre_launch: `cmd` is
        # the spec's command line, which a fork does not need.
        cwd = os.path.realpath(kwargs.get("cwd") or os.getcwd())
        root = kernel_plan.import_root()
        env = sandbox.kernel_environment(kwargs.get("env") or os.environ, cwd, self.threads, root)
        env.pop("JPY_PARENT_PID", None)
        user = kernel_plan.kernel_user(self.user) if os.geteuid() == 0 else ""
        if user:
            sandbox.give_to(user, [cwd, env["MPLCONFIGDIR"], self.kernel_dir, *Path(self.kernel_dir).iterdir()])
            os.chmod(cwd, 0o711)
            env.update(USER="kernel", LOGNAME="kernel")
        self.server.preload(self.preload)
        readable = [*sandbox.readable_paths(root), "/proc"]
        writable = [cwd, self.kernel_dir, *sandbox.DEVICES, "/tmp"]
        reply = self.server.request("fork", connection_file=self.parent.connection_file, cwd=cwd, env=env,
                                    memory_mb=self.memory_mb, file_mb=self.file_mb, kernel_dir=self.kernel_dir,
                                    landlock={"readable": readable, "writable": writable})
        self.process = forked_kernels.ForkedProcess(self.server, reply["pid"])
        self.pid, self.pgid, self.cwd = reply["pid"], None, cwd
        return self.connection_info

    async def send_signal(self, signum):
        if self.server:
            if self.process:
                self.process.send_signal(signum)
        else:
            await super().send_signal(signum)

    async def cleanup(self, restart=False):
        await super().cleanup(restart=restart)
        if not restart and self.kernel_dir:
            shutil.rmtree(self.kernel_dir, ignore_errors=True)
