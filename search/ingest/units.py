"""Find definition units (functions, methods, classes) in source text with tree-sitter.

A unit's span is what a reader would call "the definition": for Python from the first
decorator to the last line of the body, for JavaScript the whole top-level statement
(``var x = curry(function () {...});``), for Rust including its ``#[...]`` attributes. Units
nest: a class holds its methods, a function its inner functions.

Grammars come from the individual ``tree-sitter-<lang>`` wheels, which load offline. Parsers
are not thread-safe, so each thread keeps its own, one per language.
"""

from __future__ import annotations

import functools
import re
import threading
from collections.abc import Callable
from dataclasses import dataclass, field

import tree_sitter
import tree_sitter_c
import tree_sitter_cpp
import tree_sitter_go
import tree_sitter_java
import tree_sitter_javascript
import tree_sitter_python
import tree_sitter_ruby
import tree_sitter_rust
import tree_sitter_typescript

FUNCTION = "function"
METHOD = "method"
CLASS = "class"

_MAX_SIGNATURE_CHARS = 300
_WHITESPACE = re.compile(r"\s+")

_GRAMMARS: dict[str, Callable[[], object]] = {
    "python": tree_sitter_python.language,
    "javascript": tree_sitter_javascript.language,
    "typescript": tree_sitter_typescript.language_typescript,
    "tsx": tree_sitter_typescript.language_tsx,
    "go": tree_sitter_go.language,
    "java": tree_sitter_java.language,
    "rust": tree_sitter_rust.language,
    "c": tree_sitter_c.language,
    "cpp": tree_sitter_cpp.language,
    "ruby": tree_sitter_ruby.language,
}
SUPPORTED_LANGUAGES = frozenset(_GRAMMARS)

_local = threading.local()


@dataclass
class Unit:
    """One definition: 1-based inclusive lines, qualified symbol and nested units."""

    kind: str
    symbol: str
    name: str
    start_line: int
    end_line: int
    signature: str
    children: list[Unit] = field(default_factory=list)


@dataclass(frozen=True)
class _Match:
    kind: str  # FUNCTION, METHOD or CLASS; FUNCTION becomes METHOD inside a class
    name: str
    span: tree_sitter.Node  # lines of the unit
    definition: tree_sitter.Node  # where the signature starts
    body: tree_sitter.Node | None  # where the signature stops; None: the first line
    nested: tuple[tree_sitter.Node, ...]  # where nested units are searched
    symbol: str = ""  # overrides scope-qualified naming (JS prototype assignments, Go receivers)


def find_units(text: str, language: str) -> list[Unit]:
    """Return the top-level units of ``text`` (with nested units inside them).

    Raise KeyError for a language without a grammar (see SUPPORTED_LANGUAGES). A file with
    syntax errors still yields the units tree-sitter could recover.
    """
    source = text.encode("utf-8")
    tree = _parser(language).parse(source)
    rules = _RULES[language]
    units: list[Unit] = []
    _visit(tree.root_node, source, rules, (), in_class=False, out=units)
    return units


@functools.cache
def _language(language: str) -> tree_sitter.Language:
    return tree_sitter.Language(_GRAMMARS[language]())


def _parser(language: str) -> tree_sitter.Parser:
    parsers: dict[str, tree_sitter.Parser] | None = getattr(_local, "parsers", None)
    if parsers is None:
        parsers = _local.parsers = {}
    if language not in parsers:
        parsers[language] = tree_sitter.Parser(_language(language))
    return parsers[language]


@dataclass(frozen=True)
class _Rules:
    match: Callable[[tree_sitter.Node, bytes], _Match | None]
    # Node types that cannot contain definitions; skipping them keeps the walk fast.
    opaque: frozenset[str]
    # Sibling node types that belong to the next definition (Rust attributes, JS decorators).
    leading: frozenset[str] = frozenset()


def _visit(
    node: tree_sitter.Node,
    source: bytes,
    rules: _Rules,
    scope: tuple[str, ...],
    *,
    in_class: bool,
    out: list[Unit],
) -> None:
    previous: list[tree_sitter.Node] = []
    for child in node.named_children:
        match = rules.match(child, source)
        if match is None:
            if child.type not in rules.opaque and child.named_child_count:
                _visit(child, source, rules, scope, in_class=in_class, out=out)
            previous.append(child)
            continue

        unit = _make_unit(match, source, scope, in_class, _leading_start(previous, rules))
        out.append(unit)
        inner_scope = tuple(unit.symbol.split("."))
        for nested in match.nested:
            _visit(
                nested, source, rules, inner_scope, in_class=unit.kind == CLASS, out=unit.children
            )
        previous.append(child)


def _leading_start(previous: list[tree_sitter.Node], rules: _Rules) -> int | None:
    start = None
    for node in reversed(previous):
        if node.type not in rules.leading:
            break
        start = node.start_point.row
    return start


def _make_unit(
    match: _Match, source: bytes, scope: tuple[str, ...], in_class: bool, leading: int | None
) -> Unit:
    kind = METHOD if match.kind == FUNCTION and in_class else match.kind
    start_row = match.span.start_point.row if leading is None else leading
    return Unit(
        kind=kind,
        symbol=match.symbol or ".".join((*scope, match.name)),
        name=match.name,
        start_line=start_row + 1,
        end_line=end_line(match.span),
        signature=_signature(match, source),
        children=[],
    )


def end_line(node: tree_sitter.Node) -> int:
    """Return the 1-based last line of ``node``.

    A node that ends at column 0 ends on the line before (its final newline is not a line).
    """
    end = node.end_point
    if end.column == 0 and end.row > node.start_point.row:
        return end.row
    return end.row + 1


def _signature(match: _Match, source: bytes) -> str:
    start = match.definition.start_byte
    body = match.body
    if body is not None and body.start_byte > start:
        stop = body.start_byte
        # Brace languages: keep the opening brace, as a reader sees "f(a) {".
        if source[stop : stop + 1] == b"{":
            stop += 1
    else:
        newline = source.find(b"\n", start, match.definition.end_byte)
        stop = match.definition.end_byte if newline < 0 else newline
    text = source[start:stop].decode("utf-8", errors="replace")
    return _WHITESPACE.sub(" ", text).strip()[:_MAX_SIGNATURE_CHARS]


def _text(node: tree_sitter.Node | None, source: bytes) -> str:
    if node is None:
        return ""
    return source[node.start_byte : node.end_byte].decode("utf-8", errors="replace")


def _field(node: tree_sitter.Node, name: str) -> tree_sitter.Node | None:
    return node.child_by_field_name(name)


def _simple(
    node: tree_sitter.Node,
    source: bytes,
    kind: str,
    *,
    span: tree_sitter.Node | None = None,
    name: str | None = None,
    symbol: str = "",
) -> _Match | None:
    body = _field(node, "body")
    resolved = name if name is not None else _text(_field(node, "name"), source)
    if not resolved:
        return None
    return _Match(
        kind=kind,
        name=resolved,
        span=span or node,
        definition=node,
        body=body,
        nested=(body,) if body is not None else (),
        symbol=symbol,
    )


# --- Python -------------------------------------------------------------------------------


def _match_python(node: tree_sitter.Node, source: bytes) -> _Match | None:
    if node.type == "decorated_definition":
        inner = _field(node, "definition")
        if inner is None:
            return None
        found = _match_python(inner, source)
        if found is None:
            return None
        return _Match(
            found.kind, found.name, node, found.definition, found.body, found.nested, found.symbol
        )
    if node.type == "function_definition":
        return _simple(node, source, FUNCTION)
    if node.type == "class_definition":
        return _simple(node, source, CLASS)
    return None


# --- JavaScript / TypeScript ---------------------------------------------------------------

_JS_FUNCTIONS = frozenset(
    {"function_expression", "function", "arrow_function", "generator_function"}
)
_JS_CLASSES = frozenset({"class", "class_expression"})
_JS_LITERALS = frozenset(
    {"number", "string", "template_string", "true", "false", "null", "undefined", "regex"}
)
_JS_DECLARATIONS = frozenset({"lexical_declaration", "variable_declaration"})
_JS_TARGETS = frozenset({"member_expression", "subscript_expression"})


def _match_js(node: tree_sitter.Node, source: bytes) -> _Match | None:
    kind = node.type
    if kind == "export_statement":
        declaration = _field(node, "declaration")
        found = _match_js(declaration, source) if declaration is not None else None
        if found is None:
            return None
        return _Match(found.kind, found.name, node, node, found.body, found.nested, found.symbol)
    if kind in ("function_declaration", "generator_function_declaration"):
        return _simple(node, source, FUNCTION)
    if kind in ("class_declaration", "abstract_class_declaration"):
        return _simple(node, source, CLASS)
    if kind in ("interface_declaration", "enum_declaration"):
        return _simple(node, source, CLASS)
    if kind == "method_definition":
        return _simple(node, source, METHOD)
    if kind in ("field_definition", "public_field_definition"):
        return _match_js_field(node, source)
    if _is_top_level(node):
        if kind in _JS_DECLARATIONS:
            return _match_js_declaration(node, source)
        if kind == "expression_statement":
            return _match_js_assignment(node, source)
    return None


def _is_top_level(node: tree_sitter.Node) -> bool:
    parent = node.parent
    if parent is not None and parent.type == "export_statement":
        parent = parent.parent
    return parent is not None and parent.type == "program"


def _match_js_field(node: tree_sitter.Node, source: bytes) -> _Match | None:
    value = _field(node, "value")
    if value is None or value.type not in _JS_FUNCTIONS:
        return None
    name_node = _field(node, "property") or _field(node, "name")
    name = _text(name_node, source)
    if not name:
        return None
    return _Match(METHOD, name, node, node, _field(value, "body"), (value,))


def _match_js_declaration(node: tree_sitter.Node, source: bytes) -> _Match | None:
    # A top-level binding is a definition unless it only imports (require) or names a literal:
    # lodash-style "var snakeCase = createCompounder(...)" must be found, "var x = 1" is noise.
    declarators = [c for c in node.named_children if c.type == "variable_declarator"]
    for declarator in declarators:
        value = _field(declarator, "value")
        if value is None or value.type in _JS_LITERALS or _is_require(value, source):
            continue
        name = _text(_field(declarator, "name"), source)
        if not name:
            continue
        kind = CLASS if value.type in _JS_CLASSES else FUNCTION
        return _Match(kind, name, node, node, _js_body(value), (value,))
    return None


def _match_js_assignment(node: tree_sitter.Node, source: bytes) -> _Match | None:
    expression = node.named_children[0] if node.named_child_count else None
    if expression is None or expression.type != "assignment_expression":
        return None
    left = _field(expression, "left")
    right = _field(expression, "right")
    if left is None or right is None or left.type not in _JS_TARGETS:
        return None
    target = _WHITESPACE.sub("", _text(left, source))
    is_prototype = ".prototype." in target or ".prototype[" in target
    is_export = target == "module.exports" or target.startswith(("module.exports.", "exports."))
    if not (_is_function_like(right) or is_prototype or (is_export and right.type != "identifier")):
        return None
    name = re.split(r"[.\[]", target)[-1].strip("]'\"`") or target
    kind = METHOD if is_prototype else CLASS if right.type in _JS_CLASSES else FUNCTION
    return _Match(kind, name, node, node, _js_body(right), (right,), symbol=target)


def _is_function_like(value: tree_sitter.Node) -> bool:
    if value.type in _JS_FUNCTIONS or value.type in _JS_CLASSES:
        return True
    if value.type == "call_expression":
        arguments = _field(value, "arguments")
        return arguments is not None and any(
            arg.type in _JS_FUNCTIONS for arg in arguments.named_children
        )
    return False


def _is_require(value: tree_sitter.Node, source: bytes) -> bool:
    while value.type == "member_expression":  # require('x').y
        obj = _field(value, "object")
        if obj is None:
            return False
        value = obj
    return value.type == "call_expression" and _text(_field(value, "function"), source) in (
        "require",
        "import",
    )


def _js_body(value: tree_sitter.Node) -> tree_sitter.Node | None:
    """Return the node where a binding's signature stops: the first function body inside."""
    if value.type in _JS_FUNCTIONS or value.type in _JS_CLASSES:
        return _field(value, "body")
    if value.type == "call_expression":
        arguments = _field(value, "arguments")
        for arg in arguments.named_children if arguments is not None else ():
            if arg.type in _JS_FUNCTIONS:
                return _field(arg, "body")
    return None


# --- Go, Java, Rust ---------------------------------------------------------------------------


def _match_go(node: tree_sitter.Node, source: bytes) -> _Match | None:
    if node.type == "function_declaration":
        return _simple(node, source, FUNCTION)
    if node.type == "method_declaration":
        name = _text(_field(node, "name"), source)
        receiver = _go_receiver_type(_field(node, "receiver"), source)
        symbol = f"{receiver}.{name}" if receiver else name
        return _simple(node, source, METHOD, symbol=symbol)
    if node.type == "type_declaration":
        specs = [c for c in node.named_children if c.type == "type_spec"]
        if len(specs) == 1:
            return _match_go_type(specs[0], source, span=node)
        return None
    if node.type == "type_spec":
        return _match_go_type(node, source, span=node)
    return None


def _match_go_type(
    spec: tree_sitter.Node, source: bytes, *, span: tree_sitter.Node
) -> _Match | None:
    type_node = _field(spec, "type")
    if type_node is None or type_node.type not in ("struct_type", "interface_type"):
        return None
    name = _text(_field(spec, "name"), source)
    if not name:
        return None
    # No body: the signature is the "type Name struct {" line.
    return _Match(CLASS, name, span, span, None, ())


def _go_receiver_type(receiver: tree_sitter.Node | None, source: bytes) -> str:
    if receiver is None:
        return ""
    for param in receiver.named_children:
        type_text = _text(_field(param, "type"), source)
        return type_text.lstrip("*").split("[")[0].strip()
    return ""


def _match_java(node: tree_sitter.Node, source: bytes) -> _Match | None:
    if node.type in (
        "class_declaration",
        "interface_declaration",
        "enum_declaration",
        "record_declaration",
        "annotation_type_declaration",
    ):
        return _simple(node, source, CLASS)
    if node.type in ("method_declaration", "constructor_declaration"):
        return _simple(node, source, FUNCTION)
    return None


def _match_rust(node: tree_sitter.Node, source: bytes) -> _Match | None:
    if node.type == "function_item":
        return _simple(node, source, FUNCTION)
    if node.type in ("struct_item", "enum_item", "union_item", "trait_item"):
        return _simple(node, source, CLASS)
    if node.type == "impl_item":
        type_node = _field(node, "type")
        if type_node is not None and type_node.type == "generic_type":
            type_node = _field(type_node, "type")
        return _simple(node, source, CLASS, name=_text(type_node, source))
    return None


# --- C, C++ -----------------------------------------------------------------------------------

_C_NAME_TYPES = frozenset(
    {"identifier", "field_identifier", "qualified_identifier", "destructor_name", "operator_name"}
)
_C_RECORDS = frozenset({"struct_specifier", "union_specifier", "enum_specifier", "class_specifier"})


def _match_c(node: tree_sitter.Node, source: bytes) -> _Match | None:
    if node.type == "function_definition":
        declarator = _c_name_node(_field(node, "declarator"))
        qualified = _text(declarator, source).replace("::", ".")
        name = qualified.rsplit(".", 1)[-1]
        # "int A::m() {...}" outside the class: the qualifier names the class.
        symbol = qualified if "." in qualified else ""
        return _simple(node, source, FUNCTION, name=name, symbol=symbol)
    if node.type == "template_declaration":
        for child in node.named_children:
            found = _match_c(child, source)
            if found is not None:
                return _Match(
                    found.kind, found.name, node, node, found.body, found.nested, found.symbol
                )
        return None
    if node.type in _C_RECORDS and _field(node, "body") is not None:
        return _simple(node, source, CLASS)
    if node.type == "type_definition":
        record = _field(node, "type")
        if record is not None and record.type in _C_RECORDS and _field(record, "body") is not None:
            name = _text(_field(node, "declarator"), source)
            body = _field(record, "body")
            return _Match(CLASS, name, node, node, body, (body,) if body else ())
    if node.type == "declaration":
        record = _field(node, "type")
        if record is not None and record.type in _C_RECORDS:
            found = _match_c(record, source)
            if found is not None:
                return _Match(CLASS, found.name, node, node, found.body, found.nested)
    return None


def _c_name_node(declarator: tree_sitter.Node | None) -> tree_sitter.Node | None:
    # Declarators nest: pointer_declarator > function_declarator > identifier.
    while declarator is not None and declarator.type not in _C_NAME_TYPES:
        declarator = _field(declarator, "declarator")
    return declarator


# --- Ruby -------------------------------------------------------------------------------------


def _match_ruby(node: tree_sitter.Node, source: bytes) -> _Match | None:
    if node.type == "method":
        return _ruby_unit(node, source, FUNCTION)
    if node.type == "singleton_method":
        return _ruby_unit(node, source, METHOD)
    if node.type in ("class", "module"):
        return _ruby_unit(node, source, CLASS)
    return None


def _ruby_unit(node: tree_sitter.Node, source: bytes, kind: str) -> _Match | None:
    name = _text(_field(node, "name"), source).replace("::", ".")
    if not name:
        return None
    body = _field(node, "body")
    # Ruby has no brace: the signature is the "def"/"class" line.
    return _Match(kind, name, node, node, None, (body,) if body is not None else ())


_RULES: dict[str, _Rules] = {
    "python": _Rules(
        _match_python,
        opaque=frozenset(
            {"expression_statement", "import_statement", "import_from_statement", "comment"}
        ),
    ),
    "javascript": _Rules(
        _match_js,
        opaque=frozenset({"import_statement", "comment", "string", "template_string"}),
        leading=frozenset({"decorator"}),
    ),
    "go": _Rules(_match_go, opaque=frozenset({"import_declaration", "comment"})),
    "java": _Rules(_match_java, opaque=frozenset({"import_declaration", "line_comment"})),
    "rust": _Rules(
        _match_rust,
        opaque=frozenset({"use_declaration", "line_comment", "block_comment"}),
        leading=frozenset({"attribute_item"}),
    ),
    "c": _Rules(_match_c, opaque=frozenset({"preproc_include", "comment"})),
    "ruby": _Rules(_match_ruby, opaque=frozenset({"comment", "string"})),
}
_RULES["typescript"] = _RULES["tsx"] = _RULES["javascript"]
_RULES["cpp"] = _RULES["c"]
