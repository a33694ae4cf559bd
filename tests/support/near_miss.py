# A generated corpus of near-miss JSON values: objects as json.dumps and other writers produce
# them, then mutated one or two characters at a time, plus the known cases where MariaDB's
# JSON_VALID and Python's json.loads disagree. Deterministic (seeded).
from __future__ import annotations

import json
import random

# The disagreements the issue names, and their neighbours.
KNOWN = [
    '{"a": -}',
    '{"a": 1.}',
    '{"\\x": 1}',
    '{"a": "\\x41"}',
    '{"a": "\\\'"}',
    '{"a": 1e}',
    '{"a": 1e+}',
    '{"a": 1.e5}',
    '{"a": [1., 2]}',
    '{"a": {"b": -}}',
    '{"a\tb": 1}',
    '{"a\x01": 1}',
    '{"a": NaN}',
    '{"a": Infinity}',
    '{"a": -Infinity}',
    '{"a": "\\ud800"}',
    '{"\\udc00": 1}',
    '{"a":' * 40 + "1" + "}" * 40,
    '{"a": ' + "[" * 40 + "]" * 40 + "}",
    '{"a":' * 20 + "1" + "}" * 20,
    '{"a": 1',
    '{"a": 1}',
    '{"a": "\\\\x"}',
    '{"a": "C:\\\\path"}',
    '{"a": "done. next"}',
    '{"a": "2026-11-02", "b": "a-b"}',
    '{"a": 1e5, "b": -0.25, "c": 1E-7}',
    '  {"a": NaN}  ',
    '\n{"a": 1.}\n',
]
ALPHABET = list("{}[]:,\"\\-+.eE0123456789 \tnrufalsbx/'NaIy") + ["\u00e9", "\U0001f600", "\x01", "\x7f"]
STRINGS = ["x", "a-b", "2026-11-02", "C:\\path", 'q"u', "é", "\U0001f600", "x\ty", "5. done", "a: -b", "1.e5", "\\u00e9"]
NUMBERS = [0, -1, 1.5, -0.25, 1e5, 12345678901234567890, -3e-7, True, False, None]


def _value(rnd, depth=0):
    k = rnd.random()
    if depth > 3 or k < 0.3:
        return rnd.choice(NUMBERS)
    if k < 0.55:
        return rnd.choice(STRINGS)
    if k < 0.75:
        return [_value(rnd, depth + 1) for _ in range(rnd.randint(0, 3))]
    return dict((rnd.choice(["a", "b", "k-1", "é", "\\"]), _value(rnd, depth + 1)) for _ in range(rnd.randint(0, 3)))


def _base(rnd):
    obj = dict(("k%d" % i, _value(rnd)) for i in range(rnd.randint(1, 4)))
    return json.dumps(obj, ensure_ascii=rnd.random() < 0.5, indent=rnd.choice([None, None, 1]))


def _mutate(rnd, text):
    for _ in range(rnd.randint(1, 2)):
        i = rnd.randrange(1, len(text))
        ch = rnd.choice(ALPHABET)
        op = rnd.random()
        if op < 0.4:
            text = text[:i] + ch + text[i:]
        elif op < 0.7:
            text = text[:i] + text[i + 1 :]
        else:
            text = text[:i] + ch + text[i + 1 :]
    return text


def corpus(size=20000, seed=13):
    """`size` generated values (a tenth unmutated) after the known cases."""
    rnd = random.Random(seed)
    out = list(KNOWN)
    while len(out) < size:
        base = _base(rnd)
        out.append(base if rnd.random() < 0.1 else _mutate(rnd, base))
    return out


def python_reads_object(text):
    try:
        return isinstance(json.loads(text), dict)
    except (ValueError, RecursionError):
        return False
