"""The quickstart's corpus: the English prose of the documentation that ships with every Python.

Two sources, both read as text (no stdlib module is imported but `pydoc_data.topics`, which is a dict
of strings): the pydoc topics (the language reference's chapters that `help()` shows) and the
docstrings of the standard library's own modules, classes and functions, read from their `.py` files
with `ast`. Only paragraphs that read as English sentences are kept: the topics are half grammar,
code and tables, and a model trained on them (65,500 words) mostly learned `__dunder__` underscores.
In Python 3.11 the prose is about 19,000 words of topics and 74,000 of docstrings.

A document is one topic or one module's docstrings; every tenth document, in sorted order, is held out.
"""
import ast
import re
import sysconfig
from pathlib import Path

# A word of prose: letters with inner apostrophes or hyphens, in quotes or brackets, before punctuation.
_PLAIN_WORD = re.compile(r"""["'(]*[A-Za-z]+(?:['’-][A-Za-z]+)*[.,;:!?"')]*""")
# reST emphasis in the topics (**PEP 572**, *identifier*): the words stay, the stars go.
_EMPHASIS = re.compile(r"\*{1,2}([^*\s][^*]*?)\*{1,2}")
# Share of plain words a paragraph needs: 0.9 keeps "The "'_'" option signals ..." and drops
# signatures, tables and lists of names, in which most words are identifiers or symbols.
_PLAIN_SHARE = 0.9
_MIN_WORDS = 8
# Source trees of the standard library whose docstrings are not about the library's own use.
_SKIPPED_DIRECTORIES = {"test", "tests", "idle_test", "site-packages", "__pycache__", "pydoc_data"}


def prose_paragraphs(text):
    """The paragraphs (blank-line separated) of `text` that read as English sentences, each on one line.

    A paragraph is kept when its first line is not indented (indented blocks are code, grammar or
    examples), it has at least 8 words, starts with a capital and ends a sentence (`.`, `:`, `?`),
    holds no `__dunder__` or `>>>` prompt, and nine in ten of its words are plain words.

    Args:
        text: A topic or a docstring.

    Returns:
        A list of str.
    """
    kept = []
    for block in re.split(r"\n\s*\n", text):
        lines = block.splitlines()
        if not lines or lines[0].startswith((" ", "\t")) or "__" in block or ">>>" in block:
            continue
        words = _EMPHASIS.sub(r"\1", " ".join(line.strip() for line in lines)).split()
        if len(words) < _MIN_WORDS or not words[0][:1].isupper() or not words[-1].endswith((".", ":", "?")):
            continue
        if sum(1 for word in words if _PLAIN_WORD.fullmatch(word)) >= _PLAIN_SHARE * len(words):
            kept.append(" ".join(words))
    return kept


def topic_documents():
    """The prose of each pydoc topic: a list of (name, paragraphs), sorted by name."""
    from pydoc_data.topics import topics

    return [(name, prose_paragraphs(topics[name])) for name in sorted(topics)]


def docstring_documents(root=None):
    """The prose of each standard-library module's docstrings (module, classes, functions, methods).

    Args:
        root: The directory of the standard library's sources; None for this Python's.

    Returns:
        A list of (relative path, paragraphs), sorted by path; empty when the sources are not installed.
    """
    root = Path(sysconfig.get_paths()["stdlib"] if root is None else root)
    documents = []
    for path in sorted(root.rglob("*.py")):
        relative = path.relative_to(root)
        if _SKIPPED_DIRECTORIES & set(relative.parts):
            continue
        try:
            tree = ast.parse(path.read_text(encoding="utf-8"))
        except (SyntaxError, UnicodeDecodeError, ValueError):
            continue  # a template or an encoding test file: not a module of the library
        paragraphs = []
        for node in ast.walk(tree):
            if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
                docstring = ast.get_docstring(node)
                if docstring:
                    paragraphs.extend(prose_paragraphs(docstring))
        documents.append((relative.as_posix(), paragraphs))
    return documents


def load_corpus():
    """The prose as (train, held-out) lists of paragraphs: every tenth document is held out.

    A paragraph that occurs twice (docstrings repeat: overloads, the C and Python versions of a
    module) is kept once, where it first occurs, so that no held-out text is also trained on.

    Returns:
        `(train, held_out)`, two lists of str.
    """
    seen = set()
    documents = []
    for _, paragraphs in topic_documents() + docstring_documents():
        unique = []
        for paragraph in paragraphs:
            if paragraph not in seen:
                seen.add(paragraph)
                unique.append(paragraph)
        if unique:
            documents.append(unique)
    train = [paragraph for i, document in enumerate(documents) if i % 10 != 0 for paragraph in document]
    held_out = [paragraph for i, document in enumerate(documents) if i % 10 == 0 for paragraph in document]
    return train, held_out
