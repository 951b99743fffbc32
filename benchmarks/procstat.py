"""What the benchmarks read of processes on this machine: a free port,
a process tree, its CPU (from /proc/<pid>/stat) and its peak memory."""
import os
import socket


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def descendants(root_pids):
    """Pids of the given processes and all their descendants."""
    children = {}
    for pid in os.listdir("/proc"):
        if pid.isdigit():
            try:
                with open("/proc/%s/stat" % pid) as f:
                    stat = f.read()
            except OSError:
                continue
            ppid = int(stat[stat.rindex(")") + 2:].split()[1])
            children.setdefault(ppid, []).append(int(pid))
    found, todo = set(), list(root_pids)
    while todo:
        pid = todo.pop()
        if pid not in found:
            found.add(pid)
            todo.extend(children.get(pid, ()))
    return found


def cpu_seconds(pids):
    """utime + stime + cutime + cstime of each live pid, in s.

    These are exact (the kernel scales its tick samples to the scheduler's
    ns count, ended threads included), but counted in clock ticks (10 ms):
    every measurement runs for MIN_WALL seconds at least. (Per-thread
    schedstat is finer but forgets threads that ended: upstream's
    parallel_map starts a thread pool per batch, half of its CPU.)"""
    return _seconds(pids, (11, 12, 13, 14))


def system_seconds(pids):
    """stime + cstime of each live pid, in s: the part of cpu_seconds
    spent in the kernel on the processes' behalf (file creation, renames,
    sockets), which a faster user-space program does not reduce."""
    return _seconds(pids, (12, 14))


def _seconds(pids, fields):
    """The sum of the given clock-tick fields of /proc/<pid>/stat (counted
    after the command's name) of each live pid, in s."""
    tick = os.sysconf("SC_CLK_TCK")
    cpu = {}
    for pid in pids:
        try:
            with open("/proc/%d/stat" % pid) as f:
                stat = f.read()
        except OSError:
            continue
        values = stat[stat.rindex(")") + 2:].split()
        cpu[pid] = sum(int(values[k]) for k in fields) / tick
    return cpu


def peak_rss_mb(pids):
    """The sum of the processes' peak resident sizes (VmHWM), in MiB."""
    total = 0
    for pid in pids:
        try:
            with open("/proc/%d/status" % pid) as f:
                for line in f:
                    if line.startswith("VmHWM:"):
                        total += int(line.split()[1])
        except OSError:
            continue
    return total / 1024


class ServerCpu:
    """CPU of a server process tree (and of the processes ``also``, such as
    the servers it writes to) between two instants (a process that
    appears in between counts from zero; one that ended is lost unless
    reaped by a process of the tree: in its parent's cutime/cstime)."""

    def __init__(self, root, also=()):
        self.root = root
        self.also = set(also)
        pids = descendants([root]) | self.also
        self.before = cpu_seconds(pids)
        self.kernel_before = system_seconds(pids)

    def seconds(self):
        after = cpu_seconds(descendants([self.root]) | self.also
                            | set(self.before))
        return sum(cpu - self.before.get(pid, 0.0)
                   for pid, cpu in after.items())

    def kernel_seconds(self):
        """The part of seconds() spent in the kernel."""
        after = system_seconds(descendants([self.root]) | self.also
                               | set(self.kernel_before))
        return sum(cpu - self.kernel_before.get(pid, 0.0)
                   for pid, cpu in after.items())
