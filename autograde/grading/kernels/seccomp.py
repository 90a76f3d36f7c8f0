"""A seccomp filter for student kernels, as the classic BPF program bubblewrap's `--seccomp FD` loads
(standard library only: the sandbox launcher builds it).

It refuses, with EPERM, the system calls a kernel has no use for and that most privilege
escalations start from: new namespaces (unshare, setns, and clone with a CLONE_NEW* flag; clone3
answers ENOSYS so that the C library falls back to clone, whose flags the filter can read),
io_uring, perf_event_open, bpf, the kernel keyring, ptrace, userfaultfd, module and kexec loading,
mounts, and reading other processes' memory. Everything else is allowed. A call made through
another architecture's table (x32, or 32-bit calls on a 64-bit kernel) ends the process, since its
numbers would mean other calls.
"""
import os
import platform
import struct

# struct seccomp_data: int nr; u32 arch; u64 instruction_pointer; u64 args[6]
NR_OFFSET, ARCH_OFFSET, ARG0_LOW_OFFSET = 0, 4, 16
LD_W_ABS, JEQ, JGE, JSET, RET = 0x20, 0x15, 0x35, 0x45, 0x06
RET_ALLOW, RET_ERRNO, RET_KILL_PROCESS = 0x7FFF0000, 0x00050000, 0x80000000
EPERM, ENOSYS = 1, 38
X32_BIT = 0x40000000
# CLONE_NEWNS, NEWCGROUP, NEWUTS, NEWIPC, NEWUSER, NEWPID, NEWNET, NEWTIME
CLONE_NEW_FLAGS = 0x00020000 | 0x02000000 | 0x04000000 | 0x08000000 | 0x10000000 | 0x20000000 | 0x40000000 | 0x80

REFUSED = ("unshare", "setns", "io_uring_setup", "io_uring_enter", "io_uring_register", "perf_event_open", "bpf",
           "keyctl", "add_key", "request_key", "ptrace", "userfaultfd", "kexec_load", "kexec_file_load",
           "init_module", "finit_module", "delete_module", "mount", "umount2", "pivot_root", "open_tree",
           "move_mount", "fsopen", "fsconfig", "fsmount", "fspick", "mount_setattr", "open_by_handle_at",
           "process_vm_readv", "process_vm_writev")

# (audit arch, {name: number}) from the kernel's syscall tables
ARCHITECTURES = {
    "x86_64": (0xC000003E, {
        "unshare": 272, "setns": 308, "clone": 56, "clone3": 435, "io_uring_setup": 425, "io_uring_enter": 426,
        "io_uring_register": 427, "perf_event_open": 298, "bpf": 321, "keyctl": 250, "add_key": 248,
        "request_key": 249, "ptrace": 101, "userfaultfd": 323, "kexec_load": 246, "kexec_file_load": 320,
        "init_module": 175, "finit_module": 313, "delete_module": 176, "mount": 165, "umount2": 166,
        "pivot_root": 155, "open_tree": 428, "move_mount": 429, "fsopen": 430, "fsconfig": 431, "fsmount": 432,
        "fspick": 433, "mount_setattr": 442, "open_by_handle_at": 304, "process_vm_readv": 310,
        "process_vm_writev": 311}),
    "aarch64": (0xC00000B7, {
        "unshare": 97, "setns": 268, "clone": 220, "clone3": 435, "io_uring_setup": 425, "io_uring_enter": 426,
        "io_uring_register": 427, "perf_event_open": 241, "bpf": 280, "keyctl": 219, "add_key": 217,
        "request_key": 218, "ptrace": 117, "userfaultfd": 282, "kexec_load": 104, "kexec_file_load": 294,
        "init_module": 105, "finit_module": 273, "delete_module": 106, "mount": 40, "umount2": 39,
        "pivot_root": 41, "open_tree": 428, "move_mount": 429, "fsopen": 430, "fsconfig": 431, "fsmount": 432,
        "fspick": 433, "mount_setattr": 442, "open_by_handle_at": 265, "process_vm_readv": 270,
        "process_vm_writev": 271}),
}


def supported(machine=None):
    return (machine or platform.machine()) in ARCHITECTURES


def instruction(code, k, jt=0, jf=0):
    return struct.pack("=HBBI", code, jt, jf, k)


def program(machine=None):
    """The filter for this machine's architecture, as bytes of struct sock_filter."""
    audit_arch, numbers = ARCHITECTURES[machine or platform.machine()]
    refuse = instruction(RET, RET_ERRNO | EPERM)
    code = [instruction(LD_W_ABS, ARCH_OFFSET), instruction(JEQ, audit_arch, 1, 0), instruction(RET, RET_KILL_PROCESS),
            instruction(LD_W_ABS, NR_OFFSET)]
    if audit_arch == ARCHITECTURES["x86_64"][0]:
        code += [instruction(JGE, X32_BIT, 0, 1), instruction(RET, RET_KILL_PROCESS)]
    for name in REFUSED:
        code += [instruction(JEQ, numbers[name], 0, 1), refuse]
    code += [instruction(JEQ, numbers["clone3"], 0, 1), instruction(RET, RET_ERRNO | ENOSYS),
             instruction(JEQ, numbers["clone"], 0, 3), instruction(LD_W_ABS, ARG0_LOW_OFFSET),
             instruction(JSET, CLONE_NEW_FLAGS, 0, 1), refuse,
             instruction(RET, RET_ALLOW)]
    return b"".join(code)


def program_fd():
    """A descriptor, inheritable across exec, from which bubblewrap reads the filter."""
    fd = os.memfd_create("kernel-seccomp", 0)
    os.write(fd, program())
    os.lseek(fd, 0, os.SEEK_SET)
    return fd
