"""Server-side BM25: ``models.Document(text=..., model="qdrant/bm25")`` in
writes and queries, embedded by the gateway as Qdrant 1.15+ embeds it, through
qdrant-client over REST and gRPC. Stored vectors and scores are checked against
a reference written here from Qdrant's algorithm (MurmurHash3 of each stemmed
token, BM25's term frequency part, IDF from the collection's modifier).
"""

from __future__ import annotations

import math
import struct

import pytest
from qdrant_client import QdrantClient, models

from reference import f32

BM25 = "qdrant/bm25"
K, B, AVG_LEN = 1.2, 0.75, 256.0
TIMEOUT_S = 30


def murmur3_32(data: bytes, seed: int = 0) -> int:
    """MurmurHash3_x86_32, as Qdrant and FastEmbed hash tokens."""
    c1, c2, mask = 0xCC9E2D51, 0x1B873593, 0xFFFFFFFF

    def rotl(x, r):
        return ((x << r) | (x >> (32 - r))) & mask

    def mix(k):
        return (rotl((k * c1) & mask, 15) * c2) & mask

    h = seed
    full = len(data) - len(data) % 4
    for i in range(0, full, 4):
        h = rotl(h ^ mix(int.from_bytes(data[i : i + 4], "little")), 13)
        h = (h * 5 + 0xE6546B64) & mask
    if len(data) % 4:
        h ^= mix(int.from_bytes(data[full:], "little"))
    h ^= len(data)
    h ^= h >> 16
    h = (h * 0x85EBCA6B) & mask
    h ^= h >> 13
    h = (h * 0xC2B2AE35) & mask
    return h ^ (h >> 16)


def token_id(token: str) -> int:
    signed = struct.unpack("<i", struct.pack("<I", murmur3_32(token.encode())))[0]
    return abs(signed)


def doc_vector(tokens: list[str]) -> dict[int, float]:
    """Weights of a document's processed tokens (lowercased, no stopwords, stemmed)."""
    n = len(tokens)
    out = {}
    for t in set(tokens):
        c = tokens.count(t)
        out[token_id(t)] = f32(c * (K + 1) / (K * (1 - B + B * n / AVG_LEN) + c))
    return out


@pytest.fixture
def bm25_client(deployment, transport):
    # cloud_inference: the client sends Documents as they are, for the server
    # to embed (without it the client embeds them itself with FastEmbed).
    c = QdrantClient(
        host="127.0.0.1",
        port=deployment.http_port,
        grpc_port=deployment.grpc_port,
        prefer_grpc=(transport == "grpc"),
        timeout=TIMEOUT_S,
        cloud_inference=True,
    )
    yield c
    c.close()


def doc(text: str, **options) -> models.Document:
    return models.Document(text=text, model=BM25, options=options or None)


def test_murmur3_reference_matches_qdrants_check_values():
    assert murmur3_32(b"hello") == 0x248BFA47
    assert [token_id(t) for t in ["", "fear", "the", "univers"]] == [0, 1432942394, 1132748958, 482863870]


def test_stored_vectors_are_qdrants(bm25_client, collection_name):
    c = bm25_client
    c.create_collection(collection_name, vectors_config={}, sparse_vectors_config={"text": models.SparseVectorParams()})
    c.upsert(
        collection_name,
        points=[
            models.PointStruct(id=1, vector={"text": doc("Hello World")}),
            models.PointStruct(id=2, vector={"text": doc("The quick brown fox jumps over the lazy dog")}),
            models.PointStruct(id=3, vector={"text": doc("Running, run!", stemmer={"type": "none"}, stopwords={})}),
        ],
        wait=True,
    )
    # A batch upsert and an update of vectors embed as documents too.
    c.upsert(collection_name, points=models.Batch(ids=[4], vectors={"text": [doc("running run")]}), wait=True)
    c.update_vectors(collection_name, points=[models.PointVectors(id=1, vector={"text": doc("Hello, hello World")})], wait=True)

    got = {p.id: p.vector["text"] for p in c.retrieve(collection_name, [1, 2, 3, 4], with_vectors=True)}
    expected = {
        1: doc_vector(["hello", "hello", "world"]),
        2: doc_vector(["quick", "brown", "fox", "jump", "lazi", "dog"]),
        3: doc_vector(["running", "run"]),
        4: doc_vector(["run", "run"]),
    }
    # REST sends float32 values in their shortest form, gRPC as float32: compare as float32.
    assert {i: {d: f32(w) for d, w in zip(v.indices, v.values)} for i, v in got.items()} == expected
    assert got[4].indices == [243905464] and [f32(w) for w in got[4].values] == [f32(1.907213)]
    for v in got.values():
        assert v.indices == sorted(v.indices)


# Qdrant's own BM25 test corpus (tests/openapi/test_bm25.py).
TEXTS = [
    "I must not fear. Fear is the mind-killer.",
    "All animals are equal, but some animals are more equal than others.",
    "It was a pleasure to burn.",
    "The sky above the port was the color of television, tuned to a dead channel.",
    "In the beginning, the universe was created."
    " This has made a lot of people very angry and been widely regarded as a bad move.",
    "It's a truth universally acknowledged that a zombie in possession of brains must be in want of more brains.",
    "War is peace. Freedom is slavery. Ignorance is strength.",
    "We're not in Infinity; we're in the suburbs.",
    "I was a thousand times more evil than thou!",
    "History is merely a list of surprises... It can only prepare us to be surprised yet again.",
    "The a an and or but",
    "A an the",
    "I am you are he she it we they",
    "Is are was were",
    "Do does did",
    "Have has had",
    "Can could",
    "I am is not the you are",
    "I is not the you are",
]


def test_qdrants_corpus_scores(bm25_client, collection_name):
    c = bm25_client
    c.create_collection(collection_name, vectors_config={}, sparse_vectors_config={"text": models.SparseVectorParams()})
    c.upsert(
        collection_name,
        points=[models.PointStruct(id=i, vector={"text": doc(t)}, payload={"text": t}) for i, t in enumerate(TEXTS)],
        wait=True,
    )
    assert c.count(collection_name, exact=True).count == len(TEXTS)
    # Stopwords alone leave an empty vector; "could" is not an NLTK stopword.
    stored = {p.id: p.vector["text"] for p in c.retrieve(collection_name, [11, 16], with_vectors=True)}
    assert stored[11].indices == []
    assert stored[16].indices == [token_id("could")]

    def top(text):
        hits = c.query_points(collection_name, query=doc(text), using="text", limit=2).points
        return [(h.id, h.score) for h in hits]

    assert top("I should not fear") == [(0, pytest.approx(1.8985336, abs=1e-6))]
    assert top("It's universally acknowledged") == [
        (5, pytest.approx(3.3041947, abs=1e-6)),
        (4, pytest.approx(1.6434199, abs=1e-6)),
    ]
    # Only stopwords: an empty query finds nothing.
    assert top("the and of") == []


PETS = {
    0: ("The cat and the dog", ["cat", "dog"], [1.0, 0.0]),
    1: ("Dogs, dogs and more dogs", ["dog", "dog", "dog"], [0.9, 0.1]),
    2: ("A bird", ["bird"], [0.0, 1.0]),
    3: ("Cats hunt birds", ["cat", "hunt", "bird"], [0.3, 0.7]),
    4: ("Fish", ["fish"], [0.5, 0.5]),
}


def test_hybrid_query_with_idf(bm25_client, collection_name):
    """The RAG tutorial's hybrid search with server-side BM25: a sparse and a
    dense prefetch fused by RRF; BM25's IDF comes from the collection."""
    c = bm25_client
    c.create_collection(
        collection_name,
        vectors_config={"dense": models.VectorParams(size=2, distance=models.Distance.DOT)},
        sparse_vectors_config={"bm25": models.SparseVectorParams(modifier=models.Modifier.IDF)},
        shard_number=1,  # IDF statistics are a shard's own
    )
    c.upsert(
        collection_name,
        points=[
            models.PointStruct(id=i, vector={"dense": dense, "bm25": doc(text)}, payload={"text": text})
            for i, (text, _, dense) in PETS.items()
        ],
        wait=True,
    )
    # Reference: per query token, f32 idf = ln((N - df + 0.5) / (df + 0.5) + 1).
    query_tokens = ["cat", "dog"]  # "or" is a stopword
    n = len(PETS)
    df = {t: sum(t in toks for _, toks, _ in PETS.values()) for t in query_tokens}
    idf = {t: f32(math.log((n - df[t] + 0.5) / (df[t] + 0.5) + 1)) for t in query_tokens}
    sparse_expected = sorted(
        (
            (sum(idf[t] * doc_vector(toks)[token_id(t)] for t in query_tokens if t in toks), i)
            for i, (_, toks, _) in PETS.items()
            if any(t in toks for t in query_tokens)
        ),
        key=lambda si: (-si[0], si[1]),
    )
    sparse = c.query_points(collection_name, query=doc("Cat or dog?"), using="bm25", limit=3).points
    assert [p.id for p in sparse] == [i for _, i in sparse_expected][:3]
    assert [p.score for p in sparse] == pytest.approx([s for s, _ in sparse_expected][:3], abs=1e-5)

    dense_query = [0.1, 0.9]
    dense_ranked = sorted(PETS, key=lambda i: (-sum(a * b for a, b in zip(PETS[i][2], dense_query)), i))[:3]
    sparse_ranked = [i for _, i in sparse_expected][:3]
    fused = c.query_points(
        collection_name,
        prefetch=[
            models.Prefetch(query=doc("Cat or dog?"), using="bm25", limit=3),
            models.Prefetch(query=dense_query, using="dense", limit=3),
        ],
        query=models.FusionQuery(fusion=models.Fusion.RRF),
        limit=5,
    ).points
    rrf = {}
    for ranking in (sparse_ranked, dense_ranked):
        for rank, i in enumerate(ranking):
            rrf[i] = rrf.get(i, 0.0) + 1.0 / (2 + rank)  # Qdrant's: k = 2, ranks from 0
    # RRF ties (equal sums of reciprocal ranks) may come in either order.
    assert {p.id: p.score for p in fused} == pytest.approx(rrf, abs=1e-6)
    assert [p.score for p in fused] == sorted((p.score for p in fused), reverse=True)
    assert fused[0].id == 3  # the one point both rankings hold

    # A Document in a recommend query is embedded as a query as well.
    recommended = c.query_points(
        collection_name,
        query=models.RecommendQuery(recommend=models.RecommendInput(positive=[doc("Cat or dog?")])),
        using="bm25",
        limit=3,
    ).points
    assert [(p.id, p.score) for p in recommended] == [(p.id, p.score) for p in sparse]


def test_refusals_have_qdrants_texts(rest, collection_name):
    assert rest.put(f"/collections/{collection_name}", json={"sparse_vectors": {"text": {}}}).status_code == 200
    points = f"/collections/{collection_name}/points?wait=true"

    def refusal(body, path=points, method="PUT"):
        r = rest.request(method, path, json=body)
        return r.status_code, r.json()["status"]["error"]

    def upsert(vector):
        return {"points": [{"id": 1, "vector": vector}]}

    assert refusal(upsert({"text": {"text": "a", "model": BM25, "options": {"k": -1}}})) == (
        400,
        "Wrong input: BM25 k1 must be finite and >= 0, got -1",
    )
    assert refusal(upsert({"text": {"text": "a", "model": BM25, "options": {"b": "x"}}})) == (
        400,
        'Wrong input: Invalid BM25 config: Error("invalid type: string \\"x\\", expected f64", line: 0, column: 0)',
    )
    assert refusal(upsert({"text": "a", "model": BM25})) == (
        400,
        "Bad request: Sparse vector from document inference should be named",
    )
    assert refusal({"batch": {"ids": [1], "vectors": [{"text": "a", "model": BM25}]}}) == (
        400,
        "Direct Document processing is not supported in top-level batch vectors. Use named vectors.",
    )
    assert refusal(upsert({"text": {"text": "a", "model": "sentence-transformers/all-minilm-l6-v2"}})) == (
        500,
        "Service internal error: InferenceService URL not configured - please provide valid address in config",
    )
    # The older search APIs take no Documents.
    status, _ = refusal(
        {"positive": [{"text": "a", "model": BM25}], "using": "text", "limit": 1},
        path=f"/collections/{collection_name}/points/recommend",
        method="POST",
    )
    assert status == 400
