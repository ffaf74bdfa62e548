"""Vectorised-ish helpers that make values look like different systems typed them."""

from __future__ import annotations

import numpy as np

from customer360.simulator.pools import NICKNAMES

_LETTERS = "abcdefghijklmnopqrstuvwxyz"


def obj(values: object) -> np.ndarray:
    return np.asarray(values, dtype=object)


def typo(s: str, u: float, v: float) -> str:
    """One-character typo (substitute, delete, swap or double) driven by two uniforms."""
    if len(s) < 3:
        return s
    i = 1 + int(v * (len(s) - 2))  # keep the first letter, as people rarely mistype it
    kind = int(u * 4)
    if kind == 0:
        c = _LETTERS[int(v * 7919) % 26]
        if c == s[i].lower():
            c = _LETTERS[(int(v * 7919) + 1) % 26]
        return s[:i] + c + s[i + 1 :]
    if kind == 1:
        return s[:i] + s[i + 1 :]
    if kind == 2 and i + 1 < len(s):
        return s[:i] + s[i + 1] + s[i] + s[i + 2 :]
    return s[:i] + s[i] + s[i:]


def apply_typos(values: np.ndarray, mask: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    out = values.copy()
    idx = np.flatnonzero(mask)
    if idx.size:
        u = rng.random(idx.size)
        v = rng.random(idx.size)
        out[idx] = [typo(out[i], a, b) for i, a, b in zip(idx, u, v)]
    return out


def nicknames(first: np.ndarray, mask: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Replace masked formal names by one of their nicknames (names without one are kept)."""
    out = first.copy()
    idx = np.flatnonzero(mask)
    if idx.size:
        u = rng.random(idx.size)
        out[idx] = [(NICKNAMES[n][int(x * len(NICKNAMES[n]))] if n in NICKNAMES else n) for n, x in zip(out[idx], u)]
    return out


def has_nickname(first: np.ndarray) -> np.ndarray:
    return np.fromiter((n in NICKNAMES for n in first), dtype=bool, count=len(first))


def first_name_variant(
    first: np.ndarray, rng: np.random.Generator, *, p_nick: float, p_initial: float, p_typo: float, p_case: float = 0.0
) -> np.ndarray:
    """A first name as another system stores it: nickname, initial, typo or odd case."""
    n = len(first)
    u = rng.random(n)
    out = nicknames(first, (u < p_nick) & has_nickname(first), rng)
    ini = (u >= p_nick) & (u < p_nick + p_initial)
    out[ini] = [s[0] for s in out[ini]]
    ty = (u >= p_nick + p_initial) & (u < p_nick + p_initial + p_typo)
    out = apply_typos(out, ty, rng)
    if p_case:
        case = rng.random(n) < p_case
        out[case] = [s.lower() for s in out[case]]
    return out


def caller_names(title: np.ndarray, first: np.ndarray, last: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Names as a call-centre agent types them: 'Mr J. Smith', 'john smith', 'SMITH, John', 'Jon Smith'."""
    n = len(first)
    kind = rng.choice(7, size=n, p=[0.3, 0.15, 0.15, 0.1, 0.12, 0.1, 0.08])
    nick = nicknames(first, kind == 4, rng)
    first_t = apply_typos(first, kind == 5, rng)
    last_t = apply_typos(last, kind == 6, rng)
    out = np.empty(n, dtype=object)
    for i in range(n):
        k = kind[i]
        f, l_ = first[i], last[i]
        if k == 0:
            out[i] = f"{f} {l_}"
        elif k == 1:
            t = title[i] or "Mr"
            out[i] = f"{t} {f[0]}. {l_}"
        elif k == 2:
            out[i] = f"{f} {l_}".lower()
        elif k == 3:
            out[i] = f"{l_.upper()}, {f}"
        elif k == 4:
            out[i] = f"{nick[i]} {l_}"
        elif k == 5:
            out[i] = f"{first_t[i]} {l_}"
        else:
            out[i] = f"{f} {last_t[i]}"
    return out


def email_variant(email: np.ndarray, rng: np.random.Generator, p: float) -> np.ndarray:
    """E-mail as typed into a form: sometimes capitalised, upper-cased or with stray spaces."""
    n = len(email)
    u = rng.random(n)
    out = email.copy()
    k1 = u < p * 0.4
    k2 = (u >= p * 0.4) & (u < p * 0.6)
    k3 = (u >= p * 0.6) & (u < p)
    out[k1] = [e[:1].upper() + e[1:] for e in out[k1]]
    out[k2] = [e.upper() for e in out[k2]]
    out[k3] = [f" {e} " if j % 2 else f"{e} " for j, e in enumerate(out[k3])]
    return out


def phone_format(digits: np.ndarray, rng: np.random.Generator, p_plain: float = 0.4) -> np.ndarray:
    """National 11-digit numbers in the formats people and systems use."""
    n = len(digits)
    w = np.array([p_plain, 0.25, 0.15, 0.1, 0.1])
    kind = rng.choice(5, size=n, p=w / w.sum())
    out = np.empty(n, dtype=object)
    for i in range(n):
        d = digits[i]
        if not d:
            out[i] = ""
            continue
        k = kind[i]
        if k == 0:
            out[i] = d
        elif k == 1:
            out[i] = f"{d[:5]} {d[5:]}"
        elif k == 2:
            out[i] = f"+44 {d[1:5]} {d[5:]}"
        elif k == 3:
            out[i] = f"({d[:5]}) {d[5:8]}-{d[8:]}"
        else:
            out[i] = f"+44{d[1:]}"
    return out
