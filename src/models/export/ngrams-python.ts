/**
 * `modtune_ngrams.py`, written into every export of a head with an n-gram part: the n-gram features
 * and their logits in plain Python (standard library only), step for step what src/inference/ngrams.ts
 * and addNgramLogits compute, so a model served elsewhere (transformers, onnxruntime in Python) can add
 * the part ONNX cannot carry. test/models/export.medium.test.ts runs it against the service's scores.
 */
export const NGRAMS_PY = String.raw`"""The n-gram part of a head exported by modtune (see config.json, modtune.ngrams).

model.onnx computes the backbone and the linear (and token-level) parts of the head. This file adds the
n-gram part, which ONNX cannot compute from token ids: hashed word and character n-grams of the raw
text, log term frequency, each block L2-normalised, weights per bucket and label in modtune_ngrams.json.

    part = NgramPart.load("path/to/export")
    logits = onnx_logits + part.logits(text)      # per label, in the order of config.json id2label

As a program: python3 modtune_ngrams.py EXPORT_DIR < texts.json  (a JSON list of strings) prints a JSON
list of the n-gram logits of each text. Standard library only.
"""
import base64
import json
import math
import os
import re
import struct
import sys
import unicodedata

_WS = "\t\n\x0b\x0c\r \u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000\ufeff"
_ENTITIES = {"amp": "&", "lt": "<", "gt": ">", "quot": '"', "apos": "'", "nbsp": " "}
_ENTITY = re.compile(r"&(#[xX][0-9a-fA-F]{1,6}|#[0-9]{1,7}|[a-zA-Z]{2,6});")
_URL = re.compile(r"(?<![A-Za-z0-9_])(?:[hH][tT][tT][pP][sS]?://|[wW][wW][wW]\.)[^" + _WS + "]+")
_MENTION = re.compile(r"(?<![A-Za-z0-9_])@[A-Za-z0-9_]{1,30}")
_APOSTROPHE = re.compile("['\u2019\u02bc]")
_SPACES = re.compile("[" + _WS + "]+")

_FNV_OFFSET = 0x811C9DC5
_FNV_PRIME = 0x01000193
_WORD_SEED = 0x9E3779B1
_CHAR_SEED = 0x85EBCA77
_M32 = 0xFFFFFFFF
_MAX_CHARS = 4096  # the n-grams read the first this many characters of the normalised text


def _entity(m):
    k = m.group(1).lower()
    if k.startswith("#x") or k.startswith("#"):
        cp = int(k[2:], 16) if k.startswith("#x") else int(k[1:], 10)
        if 0 < cp <= 0x10FFFF and not (0xD800 <= cp <= 0xDFFF):
            return chr(cp)
        return m.group(0)
    return _ENTITIES.get(k, m.group(0))


def normalize(text):
    s = _ENTITY.sub(_entity, text)
    s = _URL.sub(" httpurl ", s)
    s = _MENTION.sub(" @user ", s)
    s = unicodedata.normalize("NFKC", s).lower()
    s = _APOSTROPHE.sub("", s)
    s = _SPACES.sub(" ", s)
    if s.startswith(" "):
        s = s[1:]
    if s.endswith(" "):
        s = s[:-1]
    return s


def _fnv(h, c):
    return ((h ^ c) * _FNV_PRIME) & _M32


def _fmix(h):
    h &= _M32
    h ^= h >> 16
    h = (h * 0x85EBCA6B) & _M32
    h ^= h >> 13
    h = (h * 0xC2B2AE35) & _M32
    h ^= h >> 16
    return h


def _is_word_char(ch):
    return ch == "_" or unicodedata.category(ch)[0] in "LMN"


def _words(s):
    out, cur = [], []
    for ch in s:
        if _is_word_char(ch):
            cur.append(ch)
        elif cur:
            out.append("".join(cur))
            cur = []
    if cur:
        out.append("".join(cur))
    return out


def _flush(counts, scale, out):
    norm = 0.0
    for b in counts:  # insertion order, as modtune sums it
        v = math.log1p(counts[b])
        norm += v * v
    inv = scale / math.sqrt(norm) if norm > 0 else 0.0
    for b in counts:
        out[b] = out.get(b, 0.0) + math.log1p(counts[b]) * inv


def features(text, config):
    """{bucket: value} for one text, values rounded to float32 as modtune stores them."""
    s = normalize(text)[:_MAX_CHARS]
    mask = config["buckets"] - 1
    blocks = (1 if config.get("word") else 0) + (1 if config.get("char") else 0)
    scale = 1.0 / math.sqrt(blocks)
    out = {}
    if config.get("word"):
        lo, hi = config["word"]
        hashes = []
        for w in _words(s):
            h = _FNV_OFFSET
            for ch in w:
                h = _fnv(h, ord(ch))
            hashes.append(h)
        counts = {}
        for i in range(len(hashes)):
            h = _WORD_SEED
            for n in range(1, hi + 1):
                if i + n > len(hashes):
                    break
                h = _fnv(_fnv(h, hashes[i + n - 1]), n)
                if n >= lo:
                    b = _fmix(h) & mask
                    counts[b] = counts.get(b, 0) + 1
        _flush(counts, scale, out)
    if config.get("char"):
        lo, hi = config["char"]
        counts = {}
        for chunk in s.split(" "):
            if not chunk:
                continue
            cps = [32] + [ord(ch) for ch in chunk] + [32]
            for i in range(len(cps)):
                h = _CHAR_SEED
                for n in range(1, hi + 1):
                    if i + n > len(cps):
                        break
                    h = _fnv(h, cps[i + n - 1])
                    if n >= lo:
                        b = _fmix(h ^ n) & mask
                        counts[b] = counts.get(b, 0) + 1
        _flush(counts, scale, out)
    return {b: struct.unpack("<f", struct.pack("<f", v))[0] for b, v in out.items()}


class NgramPart:
    def __init__(self, spec):
        self.config = spec["config"]
        self.num_labels = spec["num_labels"]
        self.rows = spec["rows"]
        buckets = struct.unpack("<%di" % (len(base64.b64decode(spec["buckets"])) // 4), base64.b64decode(spec["buckets"]))
        raw = base64.b64decode(spec["weights"])
        weights = struct.unpack("<%df" % (len(raw) // 4), raw)
        r = len(self.rows)
        self.weights = {b: weights[k * r:(k + 1) * r] for k, b in enumerate(buckets)}

    @classmethod
    def load(cls, export_dir):
        with open(os.path.join(export_dir, "modtune_ngrams.json"), encoding="utf-8") as f:
            return cls(json.load(f))

    def logits(self, text):
        out = [0.0] * self.num_labels
        x = features(text, self.config)
        for b in sorted(x):
            w = self.weights.get(b)
            if w is None:
                continue
            for q, row in enumerate(self.rows):
                out[row] += x[b] * w[q]
        return out


if __name__ == "__main__":
    part = NgramPart.load(sys.argv[1])
    print(json.dumps([part.logits(t) for t in json.load(sys.stdin)]))
`;
