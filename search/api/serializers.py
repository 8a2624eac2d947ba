from __future__ import annotations

from rest_framework import serializers

from search.models import FileOutcome, IndexJob, Repository


class RepositorySerializer(serializers.ModelSerializer):
    # Credentials a git URL carries are never sent back.
    remote_url = serializers.CharField(source="remote_url_masked", read_only=True)
    needs_reindex = serializers.BooleanField(
        read_only=True,
        help_text="True when the stored vectors come from another embedding model than the "
        "portal now uses (embedding_model empty: indexed before models were recorded); "
        "POST to the repository's index/ endpoint to re-index it.",
    )

    class Meta:
        model = Repository
        fields = [
            "id",
            "name",
            "source",
            "root_path",
            "remote_url",
            "branch",
            "synced_commit",
            "synced_at",
            "ignore_patterns",
            "created_at",
            "last_indexed_at",
            "file_count",
            "chunk_count",
            "embedding_model",
            "needs_reindex",
        ]
        read_only_fields = fields
        extra_kwargs = {
            "embedding_model": {
                "help_text": "The embedding model of the last successful index job; empty "
                "when never indexed or indexed before models were recorded."
            }
        }


# Said when a create request has no source or more than one; the web form says the same.
REPOSITORY_SOURCE_REQUIRED = (
    "Give exactly one source: 'path' (a directory under an allowed root), 'archive' "
    "(a .zip or .tar.gz upload) or 'url' (a git remote)."
)


class RepositoryCreateSerializer(serializers.Serializer):
    """Register a local directory (``path``), upload an archive (``archive``, multipart), or
    register a git remote (``url``, optionally ``branch``)."""

    name = serializers.CharField(max_length=100)
    path = serializers.CharField(max_length=1024, required=False, allow_blank=False)
    archive = serializers.FileField(required=False)
    url = serializers.CharField(
        max_length=2048,
        required=False,
        allow_blank=False,
        help_text="A git remote: https://, ssh://, git://, user@host:org/repo.git, or a "
        "file:// URL under an allowed root. Credentials in it are never shown back.",
    )
    branch = serializers.CharField(
        max_length=255,
        required=False,
        allow_blank=True,
        help_text="Branch to index (git remotes only); empty means the remote's default branch.",
    )
    ignore_patterns = serializers.CharField(required=False, allow_blank=True, max_length=10000)
    index = serializers.BooleanField(required=False, default=True)

    def validate(self, attrs: dict) -> dict:
        given = [key for key in ("path", "archive", "url") if attrs.get(key)]
        if len(given) != 1:
            raise serializers.ValidationError(REPOSITORY_SOURCE_REQUIRED)
        if attrs.get("branch") and not attrs.get("url"):
            raise serializers.ValidationError(
                {"branch": ["A branch only applies to a git remote ('url')."]}
            )
        return attrs


class FileOutcomeSerializer(serializers.ModelSerializer):
    class Meta:
        model = FileOutcome
        fields = ["path", "kind", "reason", "detail"]


class IndexJobSerializer(serializers.ModelSerializer):
    repository = serializers.CharField(source="repository.name")
    repository_id = serializers.IntegerField()
    percent = serializers.IntegerField()
    elapsed_seconds = serializers.FloatField(allow_null=True)
    is_finished = serializers.BooleanField()

    class Meta:
        model = IndexJob
        fields = [
            "id",
            "repository",
            "repository_id",
            "status",
            "percent",
            "is_finished",
            "stage",
            "commit",
            "files_total",
            "files_done",
            "files_indexed",
            "files_unchanged",
            "files_skipped",
            "files_failed",
            "files_deleted",
            "files_decode_fallback",
            "chunks_indexed",
            "embed_seconds",
            "elapsed_seconds",
            "error",
            "created_at",
            "started_at",
            "finished_at",
        ]


class IndexJobDetailSerializer(IndexJobSerializer):
    outcomes = FileOutcomeSerializer(many=True)

    class Meta(IndexJobSerializer.Meta):
        fields = [*IndexJobSerializer.Meta.fields, "outcomes"]


class SearchParamsSerializer(serializers.Serializer):
    q = serializers.CharField(max_length=500)
    limit = serializers.IntegerField(min_value=1, max_value=50, default=10)


class HighlightSerializer(serializers.Serializer):
    line = serializers.IntegerField()
    start = serializers.IntegerField()
    end = serializers.IntegerField()


class SearchResultSerializer(serializers.Serializer):
    repository = serializers.CharField()
    repository_id = serializers.IntegerField()
    path = serializers.CharField()
    start_line = serializers.IntegerField()
    end_line = serializers.IntegerField()
    language = serializers.CharField()
    symbol = serializers.CharField()
    kind = serializers.CharField()
    snippet = serializers.CharField()
    score = serializers.FloatField()
    highlights = HighlightSerializer(many=True)


class SearchResponseSerializer(serializers.Serializer):
    query = serializers.CharField()
    query_type = serializers.CharField()
    took_ms = serializers.FloatField()
    cache = serializers.CharField()
    results = SearchResultSerializer(many=True)
    feedback_token = serializers.CharField(
        help_text="Send it with the rank of the result the user opened to "
        "/api/v1/search/feedback/; empty when there are no results."
    )
