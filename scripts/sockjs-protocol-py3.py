#!/usr/bin/env python3
"""Make a Python 3 copy of the SockJS protocol test suite (sockjs/sockjs-protocol).

Usage: sockjs-protocol-py3.py CHECKOUT OUTDIR

The suite is Python 2. This applies a fixed list of mechanical rewrites to its
`sockjs-protocol.py` and `utils.py` and writes the results to OUTDIR; the checkout is not
modified and nothing of it is kept in this repository. Every rewrite must match at least
once, so a changed upstream file fails loudly here instead of half-converting.

The model for bytes: the suite treats socket data as `str`. Here socket bytes become
`str` through latin-1 (one character per byte, lossless) and go back the same way, so
byte-exact comparisons keep working; JSON bodies are re-read as UTF-8 before parsing, as
Python 2's `json.loads` did with byte strings.
"""

import re
import sys
from pathlib import Path

# Helpers added to utils.py: socket I/O in latin-1 strings, and JSON from such strings.
UTILS_PRELUDE = '''
def _recv(sock, n):
    return sock.recv(n).decode('latin-1')


def _as_bytes(data):
    return data.encode('latin-1') if isinstance(data, str) else data


def json_loads(text):
    """json.loads of a body read as latin-1: its bytes are UTF-8 (Python 2 semantics)."""
    try:
        text = text.encode('latin-1').decode('utf-8')
    except UnicodeEncodeError:
        pass  # already real text
    return json.loads(text)
'''

# (pattern, replacement) pairs; each must match at least once.
UTILS_REWRITES = [
    (r'^import urlparse$', 'import urllib.parse as urlparse\nimport json'),
    (r'^import httplib_fork as httplib$', 'import http.client as httplib'),
    (r'^import Queue$', 'import queue as Queue'),
    (r'^import re$', 'import re\n' + UTILS_PRELUDE),
    (r'\basync\b', 'async_'),
    (r'isinstance\(body, unicode\)', 'isinstance(body, str)'),
    (r"method is 'POST'", "method == 'POST'"),
    (r'self\.body = self\.res\.read\(\)', "self.body = self.res.read().decode('latin-1')"),
    (r'data =  self\.res\.read\(10240\)', "data = self.res.read(10240).decode('latin-1')"),
    (r"queue\.put\(unicode\(str\(m\), 'utf-8'\)\)", 'queue.put(str(m))'),
    (r'queue\.put\(\(code, reason\)\)',
     "queue.put((code, reason.decode('utf-8') if isinstance(reason, bytes) else reason))"),
    (r'self\.s\.recv\((\w+)\)', r'_recv(self.s, \1)'),
    (r'(?<![.\w])s\.recv\(1\)', '_recv(s, 1)'),
    (r'self\.s\.sendall\(data\)', 'self.s.sendall(_as_bytes(data))'),
]

SUITE_REWRITES = [
    (r'^import unittest2 as unittest$', 'import unittest'),
    (r'^from utils import RawHttpConnection$', 'from utils import RawHttpConnection\nfrom utils import json_loads'),
    (r'\bjson\.loads\(', 'json_loads('),
    (r'lambda\((\w+)\):', r'lambda \1:'),
    (r'\bunichr\(', 'chr('),
    (r'\[int, long\]', '[int]'),
    # websocket-client 1.x takes no on_close in create_connection (older ones ignored it).
    (r'create_connection\(ws_url, on_close=on_close\)', 'create_connection(ws_url)'),
]


def rewrite(text, rewrites, name):
    for pattern, replacement in rewrites:
        text, n = re.subn(pattern, replacement, text, flags=re.MULTILINE)
        if n == 0:
            sys.exit(f'sockjs-protocol-py3: {name}: no match for {pattern!r} (upstream changed?)')
    return text


def main():
    if len(sys.argv) != 3:
        sys.exit(__doc__.strip().splitlines()[2])
    src, out = Path(sys.argv[1]), Path(sys.argv[2])
    out.mkdir(parents=True, exist_ok=True)
    for name, rewrites in (('utils.py', UTILS_REWRITES), ('sockjs-protocol.py', SUITE_REWRITES)):
        text = (src / name).read_text(encoding='utf-8')
        converted = rewrite(text, rewrites, name)
        compile(converted, name, 'exec')
        (out / name).write_text(converted, encoding='utf-8')


if __name__ == '__main__':
    main()
