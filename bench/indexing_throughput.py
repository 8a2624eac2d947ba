"""Indexing throughput against the embedding model's raw throughput on the same chunks.

Indexes DIR into a throwaway team tenant through the real index job (walk, decode, chunk,
embed chunk and head, sparse vectors, upsert, bookkeeping; Celery eager), then embeds the very
same chunks with the same embedder and batch size and nothing else, and prints both rates:

  .venv/bin/python bench/indexing_throughput.py --corpus ../shared/eval/dev/corpus/jinja2

Two raw figures are printed: the chunk texts alone, and the chunk texts with their heads (what
an index job embeds, see search/chunk_heads.py). The ratio against the second is the pipeline's
own overhead; against the first it also charges the head vectors to the pipeline. Raw passes
and index jobs (each into a new repository) alternate for ``--rounds`` rounds and the fastest
of each counts: on a shared machine a load spike during one of them would otherwise decide
the ratio. Figures and the command go to docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.search_latency import throwaway_tenant


def raw_seconds(documents: list[str], heads: list[str] | None, call_size: int) -> float:
    """Seconds to embed the chunk texts (and heads) with the configured model, nothing else.

    Calls follow the index job: ``call_size`` chunks per call, with their heads in the same
    call when given (as search.chunk_heads.embed_chunks sends them).
    """
    from django.conf import settings

    from search.embeddings import get_cached_embedder

    embedder = get_cached_embedder(
        settings.SEARCH["EMBEDDING_MODEL"], cache_dir=settings.SEARCH["MODEL_CACHE_DIR"]
    )
    started = time.perf_counter()
    for start in range(0, len(documents), call_size):
        texts = documents[start : start + call_size]
        if heads is not None:
            texts = texts + heads[start : start + call_size]
        embedder.embed_documents(texts)
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--corpus", type=Path, required=True, help="Folder to index.")
    parser.add_argument("--rounds", type=int, default=3, help="Alternating rounds (default 3).")
    args = parser.parse_args()
    if args.rounds < 1:
        raise SystemExit("--rounds must be at least 1.")
    corpus: Path = args.corpus
    if not corpus.is_dir():
        raise SystemExit(f"--corpus {corpus} is not a directory.")

    slug, clean_up = throwaway_tenant(corpus, index=False)
    try:
        from django.conf import settings
        from django_tenants.utils import tenant_context

        from search.chunk_heads import head_text
        from search.embeddings import document_text
        from search.evaluation import corpus_chunks
        from search.models import IndexJob
        from search.services.indexing import FLUSH_BATCHES, start_index_job
        from search.services.repositories import create_local_repository
        from tenants.models import Tenant

        call_size = int(settings.SEARCH["EMBED_BATCH_SIZE"]) * FLUSH_BATCHES
        chunks = corpus_chunks(corpus)
        documents = [
            document_text(path=c.path, context=c.context, symbol=c.symbol, text=c.text)
            for c in chunks
        ]
        heads = [head_text(path=c.path, symbol=c.symbol, signature=c.signature) for c in chunks]
        raw_docs: list[float] = []
        raw_both: list[float] = []
        walls: list[float] = []
        tenant = Tenant.objects.get(slug=slug)
        for round_number in range(args.rounds):
            raw_docs.append(raw_seconds(documents, None, call_size))
            raw_both.append(raw_seconds(documents, heads, call_size))
            with tenant_context(tenant):
                repository = create_local_repository(
                    name=f"{corpus.name}-{round_number}", path=str(corpus.resolve())
                )
                started = time.perf_counter()
                job = start_index_job(repository=repository)
                walls.append(time.perf_counter() - started)
                job.refresh_from_db()
            if job.status == IndexJob.Status.FAILED:
                raise SystemExit(f"indexing failed: {job.error}")
        wall = min(walls)
        count = job.chunks_indexed
        indexing_rate = count / wall
        docs_rate = len(chunks) / min(raw_docs)
        both_rate = len(chunks) / min(raw_both)
        print(f"model {settings.SEARCH['EMBEDDING_MODEL']}, {call_size} chunks per call, {corpus}")
        print(
            f"index job      {count:6d} chunks in {wall:7.1f} s  {indexing_rate:7.1f} chunks/s"
            f"  (runs {' / '.join(f'{w:.1f}' for w in walls)} s)"
        )
        print(
            f"raw: chunks    {len(chunks):6d} chunks in {min(raw_docs):7.1f} s  "
            f"{docs_rate:7.1f} chunks/s  (runs {' / '.join(f'{t:.1f}' for t in raw_docs)} s)"
        )
        print(
            f"raw: + heads   {len(chunks):6d} chunks in {min(raw_both):7.1f} s  "
            f"{both_rate:7.1f} chunks/s  (runs {' / '.join(f'{t:.1f}' for t in raw_both)} s)"
        )
        print(f"indexing / raw (chunks + heads) = {indexing_rate / both_rate:.2f}")
        print(f"indexing / raw (chunks only)    = {indexing_rate / docs_rate:.2f}")
        if count != len(chunks):
            print(f"note: the job indexed {count} chunks, the chunker gives {len(chunks)}")
    finally:
        clean_up()


if __name__ == "__main__":
    main()
