"""Plain-Python reference computations the suite checks Tessera against.

No numpy on purpose: the reference must be obviously right by reading it.
Vectors are rounded to float32 first, as the server stores them.
"""

from __future__ import annotations

import math
import random
import struct
import uuid

from qdrant_client import models

DISTANCES = [
    models.Distance.COSINE,
    models.Distance.EUCLID,
    models.Distance.DOT,
    models.Distance.MANHATTAN,
]


def f32(x: float) -> float:
    return struct.unpack("f", struct.pack("f", x))[0]


def random_vectors(n: int, dim: int, seed: int) -> list[list[float]]:
    rng = random.Random(seed)
    return [[f32(rng.uniform(-1.0, 1.0)) for _ in range(dim)] for _ in range(n)]


def _norm(v):
    n = math.sqrt(sum(x * x for x in v))
    return [x / n for x in v] if n > 0 else list(v)


def score(distance: models.Distance, query, vec) -> float:
    """The score Qdrant reports for this pair."""
    if distance == models.Distance.COSINE:
        return sum(a * b for a, b in zip(_norm(query), _norm(vec)))
    if distance == models.Distance.DOT:
        return sum(a * b for a, b in zip(query, vec))
    if distance == models.Distance.EUCLID:
        return math.sqrt(sum((a - b) ** 2 for a, b in zip(query, vec)))
    if distance == models.Distance.MANHATTAN:
        return sum(abs(a - b) for a, b in zip(query, vec))
    raise ValueError(distance)


def higher_is_better(distance: models.Distance) -> bool:
    return distance in (models.Distance.COSINE, models.Distance.DOT)


def brute_force(distance, query, vectors: dict, exclude=(), keep=None):
    """All (id, score) pairs, best first. `keep(id)` restricts the candidates."""
    scored = [
        (pid, score(distance, query, vec))
        for pid, vec in vectors.items()
        if pid not in exclude and (keep is None or keep(pid))
    ]
    scored.sort(key=lambda t: t[1], reverse=higher_is_better(distance))
    return scored


def tie_tolerance(s: float) -> float:
    # float32 storage: scores that close are a genuine tie in the server.
    return 2e-5 * max(1.0, abs(s))


def assert_ranking(points, expected, what: str = "") -> None:
    """`points` (ScoredPoint list) must be exactly `expected` (list of (id, score)),
    in order; a different id is accepted only at a position where the reference
    has a float32 tie. Scores must match the reference."""
    got = [(p.id, p.score) for p in points]
    assert len(got) == len(expected), (
        f"{what}: expected {len(expected)} results, got {len(got)}: "
        f"ids {[g[0] for g in got]} vs expected {[e[0] for e in expected]}"
    )
    ref_score = dict(expected)
    ids = [g[0] for g in got]
    assert len(set(ids)) == len(ids), f"{what}: duplicate ids in result {ids}"
    for i, ((gid, gscore), (eid, escore)) in enumerate(zip(got, expected)):
        if gid != eid:
            # Only acceptable if the returned id scores the same as the expected one.
            other = ref_score.get(gid)
            assert other is not None and abs(other - escore) <= tie_tolerance(escore), (
                f"{what}: position {i}: got id {gid} (score {gscore}), expected id {eid} "
                f"(score {escore}).\n got ids:      {ids}\n expected ids: {[e[0] for e in expected]}"
            )
        assert abs(gscore - escore) <= 1e-4 * max(1.0, abs(escore)), (
            f"{what}: position {i}: id {gid} score {gscore} != reference {escore}"
        )


# ---------------------------------------------------------------------------
# Payload data set for filter tests
# ---------------------------------------------------------------------------

CITIES = ["berlin", "london", "paris", "rome", "tokyo"]
COLORS = ["red", "green", "blue"]
TAGS = ["a", "b", "c", "d", "e"]
ITEM_NAMES = ["apple", "pear", "plum"]
MISSING = object()


def filter_dataset(n: int = 200, dim: int = 8, seed: int = 7):
    """(ids, vectors by id, payloads by id). Every field except `opt` and
    `maybe_city` is always present, so Qdrant's semantics for missing values only
    matter where a test is about them."""
    rng = random.Random(seed)
    vectors = random_vectors(n, dim, seed + 1)
    ids = list(range(1, n + 1))
    payloads = {}
    for pid, _ in zip(ids, vectors):
        p = {
            "city": rng.choice(CITIES),
            "count": rng.randint(0, 100),
            "price": round(rng.uniform(0.0, 100.0), 2),
            "flag": rng.random() < 0.4,
            "tags": rng.sample(TAGS, rng.randint(1, 3)),
            "meta": {"color": rng.choice(COLORS), "size": rng.randint(1, 5)},
            "items": [
                {"name": rng.choice(ITEM_NAMES), "qty": rng.randint(0, 10)}
                for _ in range(rng.randint(1, 3))
            ],
        }
        # `opt`: missing / null / [] / scalar / list -> is_empty & is_null cases.
        kind = pid % 5
        if kind == 1:
            p["opt"] = None
        elif kind == 2:
            p["opt"] = []
        elif kind == 3:
            p["opt"] = pid
        elif kind == 4:
            p["opt"] = [pid, pid + 1]
        # kind == 0: key absent
        payloads[pid] = p
    return ids, dict(zip(ids, vectors)), payloads


def get_path(payload: dict, path: str):
    """Value at a dotted path, or MISSING."""
    cur = payload
    for part in path.split("."):
        if not isinstance(cur, dict) or part not in cur:
            return MISSING
        cur = cur[part]
    return cur


def values_at(payload: dict, path: str) -> list:
    """Qdrant's view of a field: an array is matched element-wise."""
    v = get_path(payload, path)
    if v is MISSING or v is None:
        return []
    return list(v) if isinstance(v, list) else [v]


def same_type_equal(a, b) -> bool:
    # bool is an int subclass in Python; Qdrant keeps them apart.
    if isinstance(a, bool) or isinstance(b, bool):
        return isinstance(a, bool) and isinstance(b, bool) and a == b
    return type(a) is type(b) and a == b


def match_value(payload, path, value) -> bool:
    return any(same_type_equal(v, value) for v in values_at(payload, path))


def match_any(payload, path, values) -> bool:
    return any(match_value(payload, path, x) for x in values)


def in_range(payload, path, gt=None, gte=None, lt=None, lte=None) -> bool:
    def ok(v):
        if isinstance(v, bool) or not isinstance(v, (int, float)):
            return False
        return (
            (gt is None or v > gt)
            and (gte is None or v >= gte)
            and (lt is None or v < lt)
            and (lte is None or v <= lte)
        )

    return any(ok(v) for v in values_at(payload, path))


def is_empty(payload, path) -> bool:
    v = get_path(payload, path)
    return v is MISSING or v is None or v == []


def is_null(payload, path) -> bool:
    return get_path(payload, path) is None


def new_uuid(rng: random.Random) -> str:
    return str(uuid.UUID(int=rng.getrandbits(128), version=4))
