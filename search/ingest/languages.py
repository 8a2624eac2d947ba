"""Map file names to the language names the chunker and the search filters use."""

from __future__ import annotations

from pathlib import PurePosixPath

# Languages with a tree-sitter grammar; everything else that is text is "text".
CODE_LANGUAGES = frozenset(
    {"python", "javascript", "typescript", "tsx", "go", "java", "rust", "c", "cpp", "ruby"}
)
TEXT = "text"

_BY_EXTENSION = {
    ".py": "python",
    ".pyw": "python",
    ".js": "javascript",
    ".mjs": "javascript",
    ".cjs": "javascript",
    ".jsx": "javascript",
    ".ts": "typescript",
    ".mts": "typescript",
    ".cts": "typescript",
    ".tsx": "tsx",
    ".go": "go",
    ".java": "java",
    ".rs": "rust",
    ".c": "c",
    ".h": "c",
    ".cc": "cpp",
    ".cpp": "cpp",
    ".cxx": "cpp",
    ".c++": "cpp",
    ".hh": "cpp",
    ".hpp": "cpp",
    ".hxx": "cpp",
    ".rb": "ruby",
    ".rake": "ruby",
    ".gemspec": "ruby",
}
_BY_NAME = {"Rakefile": "ruby", "Gemfile": "ruby"}

# Extensions whose content is never source text, so they are skipped without being read.
BINARY_EXTENSIONS = frozenset(
    [
        ".png",
        ".jpg",
        ".jpeg",
        ".gif",
        ".bmp",
        ".ico",
        ".icns",
        ".webp",
        ".tif",
        ".tiff",
        ".psd",
        ".heic",
        ".avif",
        ".pdf",
        ".doc",
        ".docx",
        ".xls",
        ".xlsx",
        ".ppt",
        ".pptx",
        ".odt",
        ".ods",
        ".zip",
        ".gz",
        ".tgz",
        ".bz2",
        ".xz",
        ".zst",
        ".7z",
        ".rar",
        ".tar",
        ".jar",
        ".war",
        ".ear",
        ".whl",
        ".egg",
        ".apk",
        ".deb",
        ".rpm",
        ".dmg",
        ".class",
        ".pyc",
        ".pyo",
        ".pyd",
        ".so",
        ".dll",
        ".dylib",
        ".exe",
        ".o",
        ".obj",
        ".a",
        ".lib",
        ".wasm",
        ".bin",
        ".dat",
        ".woff",
        ".woff2",
        ".ttf",
        ".otf",
        ".eot",
        ".mp3",
        ".mp4",
        ".m4a",
        ".wav",
        ".ogg",
        ".flac",
        ".avi",
        ".mov",
        ".mkv",
        ".webm",
        ".sqlite",
        ".sqlite3",
        ".db",
        ".npy",
        ".npz",
        ".pkl",
        ".pickle",
        ".parquet",
        ".onnx",
        ".pt",
        ".pth",
        ".h5",
        ".tflite",
    ]
)

# Prose where long lines are normal, so the minified-file heuristic does not apply.
PROSE_EXTENSIONS = frozenset({".md", ".markdown", ".rst", ".txt", ".adoc", ".org", ".tex"})


def detect_language(path: str) -> str:
    """Return the language of a posix path from its name: a code language or "text"."""
    pure = PurePosixPath(path)
    if pure.name in _BY_NAME:
        return _BY_NAME[pure.name]
    return _BY_EXTENSION.get(pure.suffix.lower(), TEXT)


def has_binary_extension(path: str) -> bool:
    """Return True when the extension alone says the file is not text."""
    return PurePosixPath(path).suffix.lower() in BINARY_EXTENSIONS


def is_prose(path: str) -> bool:
    """Return True for documentation formats where paragraphs are long lines."""
    return PurePosixPath(path).suffix.lower() in PROSE_EXTENSIONS
