"""Escape attempts against the sandbox: each is a strategy that returns ``ESCAPED`` evidence
if its attack worked and raises otherwise.

Placeholders: ``@SECRET@`` a secret file's path, ``@TOKEN@`` the secret's text (never to be
seen again), ``@MARK@`` a path the attack tries to create, ``@PORT@`` a TCP port on which
the test listens. ``sabotage=True`` cases must SUCCEED with every layer switched off
(proof that the test measures the wall); ``readonly`` cases cannot run code or reach
anything outside, so a result is allowed as long as no secret is in it.
"""

from __future__ import annotations

import dataclasses


@dataclasses.dataclass(frozen=True)
class Case:
    name: str
    source: str
    sabotage: bool = True  # with every layer off this attack works (shows an ESCAPED result)
    readonly: bool = False  # a result is acceptable if it carries no secret


ESC = '    return [{"ticker": "ESCAPED", "date": "2024-01-01", "signal": True, "evidence": str(x)[:300]}]\n'


def _c(name: str, body: str, **kw: bool) -> Case:
    lines = "".join(f"    {line}\n" for line in body.strip("\n").splitlines())
    return Case(name, "def strategy(df):\n" + lines + ESC, **kw)


CASES: list[Case] = [
    # --- reading files, every route -----------------------------------------------------
    _c("open-etc-passwd", "x = open('/etc/passwd').read()"),
    _c("open-secret", "x = open('@SECRET@').read()"),
    _c("pandas-read-csv", "import pandas as pd\nx = pd.read_csv('@SECRET@', header=None).to_string()"),
    _c("numpy-fromfile", "import numpy as np\nx = np.fromfile('@SECRET@', dtype=np.uint8).tobytes()"),
    _c("numpy-loadtxt", "import numpy as np\nx = np.loadtxt('/etc/passwd', dtype=str, delimiter=':', usecols=0)"),
    _c("pathlib-read", "import pathlib\nx = pathlib.Path('@SECRET@').read_text()"),
    _c("io-open", "import io\nx = io.open('@SECRET@').read()"),
    _c("pandas-module-os", "import pandas as pd\nx = pd.io.common.os.listdir('/')"),
    _c("numpy-ctypeslib-libc-open", "import numpy as np\nlibc = np.ctypeslib.ctypes.CDLL(None)\nfd = libc.open(b'@SECRET@', 0)\nassert fd >= 0, fd\nx = fd"),
    _c("proc-self-environ", "import numpy as np\nx = np.fromfile('/proc/self/environ', dtype=np.uint8).tobytes()"),
    _c("proc-worker-environ", "import os\nx = open(f'/proc/{os.getppid()}/status').read()\nppid = [l for l in x.splitlines() if l.startswith('PPid')][0].split()[1]\nx = open(f'/proc/{ppid}/environ').read()\nassert 'PATH=' in x"),
    _c("proc-self-maps", "x = open('/proc/self/maps').read()"),
    _c("proc-fd-listing", "import os\nx = os.listdir('/proc/self/fd')"),
    _c("list-root", "import os\nx = os.listdir('/')"),
    _c("read-source-tree", "import os\nx = os.listdir('/work')"),
    # --- writing files ------------------------------------------------------------------
    _c("open-write", "x = open('@MARK@', 'w').write('pwned')"),
    _c("pandas-to-csv", "df.head().to_csv('@MARK@')\nx = 'written'"),
    _c("numpy-save", "import numpy as np\nnp.save('@MARK@', np.zeros(3))\nx = 'written'"),
    _c("posix-shm", "x = open('/dev/shm/quantq-escape', 'w').write('pwned')"),
    _c("symlink", "import os\nos.symlink('/etc/passwd', '@MARK@')\nx = 'linked'"),
    _c("inherited-fds", "import os\nfor fd in range(64):\n    try:\n        os.write(fd, b'junk')\n    except OSError:\n        pass\nx = 'wrote'", sabotage=False),  # junk in the result pipe: unreadable
    _c("memfd", "import os\nfd = os.memfd_create('x')\nos.write(fd, b'x' * 4096)\nx = fd"),
    # --- processes and programs ---------------------------------------------------------
    _c("subprocess-run", "import subprocess\nx = subprocess.run(['/bin/echo', 'hi'], capture_output=True).stdout"),
    _c("os-system", "import os\nrc = os.system('touch @MARK@')\nassert rc == 0, rc\nx = rc"),
    _c("os-fork", "import os\npid = os.fork()\nif pid == 0:\n    os._exit(0)\nx = pid"),
    _c("posix-spawn", "import os\nx = os.posix_spawn('/bin/true', ['/bin/true'], {})"),
    _c("os-execv", "import os\nos.execv('/bin/sh', ['/bin/sh', '-c', 'touch @MARK@'])\nx = 'unreachable'"),
    _c("fork-bomb", "import os\nx = 0\nfor _ in range(50):\n    if os.fork() == 0:\n        while True:\n            pass\n    x += 1", sabotage=False),  # unconfined it would really fork-bomb the test machine
    _c("multiprocessing", "import multiprocessing as mp\np = mp.get_context('fork').Process(target=print)\np.start()\np.join()\nx = p.exitcode"),
    _c("ctypes-system", "import ctypes\nrc = ctypes.CDLL(None).system(b'touch @MARK@')\nassert rc == 0, rc\nx = rc"),
    _c("ctypes-ptrace-parent", "import ctypes, os\nrc = ctypes.CDLL(None).ptrace(16, os.getppid(), 0, 0)\nassert rc == 0, rc\nx = rc", sabotage=False),  # unconfined it would stop the runner
    # --- network ------------------------------------------------------------------------
    _c("socket-connect", "import socket\ns = socket.create_connection(('127.0.0.1', @PORT@), timeout=1)\ns.sendall(b'pwned')\nx = 'sent'"),
    _c("http-urllib", "import urllib.request\nx = urllib.request.urlopen('http://127.0.0.1:@PORT@/', timeout=1).read()"),
    _c("pandas-read-url", "import pandas as pd\nx = pd.read_csv('http://127.0.0.1:@PORT@/x.csv')"),
    _c("unix-socketpair", "import socket\na, b = socket.socketpair()\nx = 'pair'"),
    # --- signals and other processes ----------------------------------------------------
    _c("signal-parent-probe", "import os\nos.kill(os.getppid(), 0)\nx = 'parent reachable'"),
    _c("signal-process-group", "import os\nos.kill(0, 0)\nx = 'group reachable'"),
    _c("signal-everyone", "import os, signal\nos.kill(-1, 0)\nx = 'all reachable'"),
    _c("kill-parent", "import os, signal\nos.kill(os.getppid(), signal.SIGKILL)\nx = 'killed'", sabotage=False),
    # --- interpreter introspection ------------------------------------------------------
    _c("subclasses-walk", "for c in ().__class__.__base__.__subclasses__():\n    if c.__name__ == '_wrap_close':\n        rc = c.__init__.__globals__['system']('touch @MARK@')\n        assert rc == 0, rc\n        x = rc\n        break\nelse:\n    raise RuntimeError('no _wrap_close')"),
    _c("frame-walk-generator", "def g():\n    yield gen.gi_frame.f_back\ngen = g()\nfr = next(gen)\nwhile fr is not None and 'os' not in fr.f_globals:\n    fr = fr.f_back\nos_mod = fr.f_globals['os']\nx = os_mod.read(os_mod.open('@SECRET@', 0), 100)"),
    _c("traceback-frame-walk", "try:\n    1 / 0\nexcept ZeroDivisionError as e:\n    fr = e.__traceback__.tb_frame\nwhile fr is not None and 'os' not in fr.f_globals:\n    fr = fr.f_back\nos_mod = fr.f_globals['os']\nx = os_mod.listdir('/')"),
    _c("builtins-via-globals", "b = strategy.__globals__['__builtins__']\nimp = b['__import__'] if isinstance(b, dict) else b.__import__\nx = imp('os').listdir('/')"),
    _c("format-string-attributes", "x = '{0.__init__.__globals__}'.format(df.__class__)\nassert '@TOKEN@' in x", readonly=True, sabotage=False),
    _c("pandas-eval", "import pandas as pd\nx = pd.eval('__import__(\"os\").listdir(\"/\")')", sabotage=False),  # pandas refuses it too
    _c("pandas-query-local", "import os\nfn = os.listdir\nx = df.query('@fn(\"/\") == 0')", sabotage=False),  # pandas refuses it too
    _c("pickle-via-pandas", "import io, pandas as pd\npayload = b\"cos\\nsystem\\n(S'touch @MARK@'\\ntR.\"\nrc = pd.read_pickle(io.BytesIO(payload))\nassert rc == 0, rc\nx = rc"),
    _c("importlib-os", "import importlib\nx = importlib.import_module('os').listdir('/')"),
    _c("ctypes-syscall-keyctl", "import ctypes\nrc = ctypes.CDLL(None).syscall(250, 0, -2, 1)\nassert rc >= 0, rc\nx = rc"),
    _c("ctypes-io-uring", "import ctypes\nbuf = ctypes.create_string_buffer(120)\nrc = ctypes.CDLL(None).syscall(425, 8, buf)\nassert rc >= 0, rc\nx = rc"),
    _c("ctypes-sysv-shm", "import ctypes\nrc = ctypes.CDLL(None).shmget(0, 4096, 0o1600)\nassert rc >= 0, rc\nx = rc"),
    _c("raise-rlimit", "import resource\nresource.setrlimit(resource.RLIMIT_CPU, (10000, 10000))\nx = 'raised'", sabotage=False),  # this host denies it to root as well
    _c("unshare", "import ctypes\nrc = ctypes.CDLL(None).unshare(0x10000000)\nassert rc == 0, rc\nx = rc"),
]

# Resource exhaustion and misbehaviour: must end in the named error kinds, under every layout.
RESOURCE_CASES: list[tuple[str, str, tuple[str, ...]]] = [
    ("infinite-loop", "def strategy(df):\n    while True:\n        pass\n", ("cpu_limit",)),
    ("memory-bomb", "def strategy(df):\n    x = bytearray(50 * 1024**3)\n    return []\n", ("memory_limit",)),
    ("memory-growth", "def strategy(df):\n    a = []\n    while True:\n        a.append(' ' * 10**7)\n", ("memory_limit",)),
    ("numpy-memory-bomb", "import numpy as np\ndef strategy(df):\n    return np.ones((10**6, 10**5)).tolist()\n", ("memory_limit",)),
    ("deep-recursion", "def strategy(df):\n    def f(n):\n        return f(n + 1) + 1\n    return f(0)\n", ("recursion_limit",)),
    ("huge-output", "def strategy(df):\n    return [{'ticker': 'A', 'date': 'd', 'signal': True, 'm': 'x' * 10**6}] * 40\n", ("invalid_result", "result_too_large")),
    ("not-json", "def strategy(df):\n    return [{'ticker': 'A', 'date': 'd', 'signal': lambda: 1}]\n", ("invalid_result",)),
    ("wrong-shape", "def strategy(df):\n    return 42\n", ("invalid_result",)),
    ("sys-exit", "def strategy(df):\n    raise SystemExit(0)\n", ("strategy_error",)),
]

# Need the kernel-only layout (an ``import`` the guards refuse): (name, source, error kinds).
KERNEL_RESOURCE_CASES: list[tuple[str, str, tuple[str, ...]]] = [
    ("os-exit", "import os\ndef strategy(df):\n    os._exit(0)\n", ("strategy_error",)),
    ("sleep-forever", "import time\ndef strategy(df):\n    time.sleep(3600)\n", ("timeout",)),
    ("mmap-bomb", "import mmap\ndef strategy(df):\n    m = mmap.mmap(-1, 64 * 1024**3)\n    m[-1] = 1\n    return []\n", ("memory_limit", "strategy_error")),
    ("c-stack-overflow", "import sys\ndef strategy(df):\n    sys.setrecursionlimit(10**7)\n    def f(n):\n        return f(n + 1) + 1\n    return f(0)\n", ("crashed", "recursion_limit", "memory_limit", "cpu_limit", "timeout")),
    ("thread-outlives-run", "import threading\ndef strategy(df):\n    def spin():\n        while True:\n            pass\n    threading.Thread(target=spin, daemon=False).start()\n    return []\n", ("ok",)),
]
