"""A pull tokenizer over JSON text that reports positions the way Jackson does.

EventBridge compiles patterns with a streaming JSON parser (Jackson) and
quotes the parser's position in every error: ``... at [Source: (String)"...";
line: 1, column: 36]``. The column is where the parser *is* when the error
is raised, and Jackson reads lazily: a string value is entered (its opening
quote consumed) but not read until its text is asked for, while the value
that follows a field name is entered eagerly together with the name. This
tokenizer reproduces those positions so our messages match word for word.

Pure and synchronous: ``Lexer(text).next()`` returns token kinds; ``text()``
finishes a pending string; ``location()`` renders Jackson's suffix.
"""

from __future__ import annotations

START_OBJECT = "START_OBJECT"
END_OBJECT = "END_OBJECT"
START_ARRAY = "START_ARRAY"
END_ARRAY = "END_ARRAY"
FIELD_NAME = "FIELD_NAME"
STRING = "VALUE_STRING"
NUMBER_INT = "VALUE_NUMBER_INT"
NUMBER_FLOAT = "VALUE_NUMBER_FLOAT"
TRUE = "VALUE_TRUE"
FALSE = "VALUE_FALSE"
NULL = "VALUE_NULL"
EOF = None

NUMERIC = (NUMBER_INT, NUMBER_FLOAT)
_WS = " \t\r\n"
_EXPECTED_VALUE = ("(JSON String, Number, Array, Object or token 'null', 'true' or 'false')")
_MAX_SOURCE = 500      # Jackson quotes at most this many characters of the source


class JsonSyntaxError(Exception):
    """A message as Jackson phrases it, location suffix included."""


def _char_desc(c: str) -> str:
    code = ord(c)
    if code < 32:
        return f"(CTRL-CHAR, code {code})"
    if code > 255:
        return f"('{c}' (code {code} / 0x{code:x}))"
    return f"('{c}' (code {code}))"


def _ident_part(c: str) -> bool:
    return c.isalnum() or c in "_$"


class Lexer:
    """Tokens of one JSON document; positions are 0-based offsets into `src`."""

    __slots__ = ("src", "pos", "_stack", "_after_value", "_pending", "_incomplete", "_str", "_name",
                 "_num", "_cur")

    def __init__(self, src: str):
        self.src = src
        self.pos = 0
        self._stack: list[str] = []     # "{" / "[" contexts
        self._after_value = False       # a value (or name+colon) was completed in this context
        self._pending = None            # value token read eagerly after a field name
        self._incomplete = False        # inside a string whose text was not read yet
        self._str = ""                  # text of the current string (when complete)
        self._name = ""                 # current field name
        self._num = ""                  # literal text of the current number
        self._cur = None

    # -- positions ----------------------------------------------------------
    def location(self, pos: int | None = None) -> str:
        p = self.pos if pos is None else pos
        line = self.src.count("\n", 0, p) + 1
        start = self.src.rfind("\n", 0, p) + 1
        src = self.src
        if len(src) > _MAX_SOURCE:
            src = f'{src[:_MAX_SOURCE]}"[truncated {len(self.src) - _MAX_SOURCE} chars]'
            quoted = f'(String)"{src}'
        else:
            quoted = f'(String)"{src}"'
        return f"\n at [Source: {quoted}; line: {line}, column: {p - start + 1}]"

    def fail(self, message: str, pos: int | None = None) -> JsonSyntaxError:
        return JsonSyntaxError(message + self.location(pos))

    # -- accessors ------------------------------------------------------------
    @property
    def current(self):
        return self._cur

    def name(self) -> str:
        return self._name

    def text(self) -> str:
        """Text of the current token (finishes a string not yet read)."""
        cur = self._cur
        if cur == STRING:
            if self._incomplete:
                self._finish_string()
            return self._str
        if cur == FIELD_NAME:
            return self._name
        if cur in NUMERIC:
            return self._num
        return {TRUE: "true", FALSE: "false", NULL: "null", START_OBJECT: "{", END_OBJECT: "}",
                START_ARRAY: "[", END_ARRAY: "]"}.get(cur, "")

    def number(self) -> float:
        return float(self._num)

    # -- scanning -------------------------------------------------------------
    def _skip_ws(self) -> str | None:
        src, n, p = self.src, len(self.src), self.pos
        while p < n and src[p] in _WS:
            p += 1
        self.pos = p
        return src[p] if p < n else None

    def _finish_string(self) -> None:
        self._str = self._read_string_body()
        self._incomplete = False

    def _read_string_body(self) -> str:
        """From just after an opening quote to just after the closing one."""
        src, n = self.src, len(self.src)
        out = []
        p = self.pos
        while True:
            if p >= n:
                self.pos = p
                raise self.fail("Unexpected end-of-input: was expecting closing quote for a string value")
            c = src[p]
            p += 1
            if c == '"':
                break
            if c == "\\":
                if p >= n:
                    self.pos = p
                    raise self.fail("Unexpected end-of-input in character escape sequence")
                e = src[p]
                p += 1
                if e == "u":
                    hexs = src[p:p + 4]
                    if len(hexs) < 4 or any(h not in "0123456789abcdefABCDEF" for h in hexs):
                        self.pos = p
                        raise self.fail("Unexpected character in unicode escape sequence")
                    out.append(chr(int(hexs, 16)))
                    p += 4
                else:
                    mapped = {'"': '"', "\\": "\\", "/": "/", "b": "\b", "f": "\f", "n": "\n", "r": "\r",
                              "t": "\t"}.get(e)
                    if mapped is None:
                        self.pos = p
                        raise self.fail(f"Unrecognized character escape {_char_desc(e)}")
                    out.append(mapped)
            elif ord(c) < 32:
                self.pos = p - 1
                raise self.fail(f"Illegal unquoted character {_char_desc(c)}: has to be escaped using "
                                "backslash to be included in string value")
            else:
                out.append(c)
        self.pos = p
        # join surrogate pairs produced by \\u escapes
        return "".join(out).encode("utf-16", "surrogatepass").decode("utf-16", "replace")

    def _value(self, c: str):
        """Enter the value starting at `c` (self.pos at it); Jackson's eager step."""
        src = self.src
        if c == '"':
            self.pos += 1
            self._incomplete = True
            return STRING
        if c == "[":
            self.pos += 1
            return START_ARRAY
        if c == "{":
            self.pos += 1
            return START_OBJECT
        if c == "-" or c.isdigit():
            return self._number()
        for word, tok in (("true", TRUE), ("false", FALSE), ("null", NULL)):
            if src.startswith(word, self.pos):
                end = self.pos + len(word)
                if end < len(src) and _ident_part(src[end]):
                    break
                self.pos = end
                return tok
        if _ident_part(c):
            end = self.pos
            while end < len(src) and _ident_part(src[end]):
                end += 1
            word = src[self.pos:end]
            self.pos = end
            raise self.fail(f"Unrecognized token '{word}': was expecting {_EXPECTED_VALUE}")
        raise self.fail(f"Unexpected character {_char_desc(c)}: expected a valid value {_EXPECTED_VALUE}")

    def _no_digit(self, p: int, why: str):
        self.pos = p
        c = _char_desc(self.src[p]) if p < len(self.src) else "(end-of-input)"
        raise self.fail(f"Unexpected character {c} in numeric value: {why}")

    def _number(self):
        src, n = self.src, len(self.src)
        start = p = self.pos
        if src[p] == "-":
            p += 1
            if p >= n or not src[p].isdigit():
                self._no_digit(p, "expected digit (0-9) to follow minus sign, for valid numeric value")
        while p < n and src[p].isdigit():
            p += 1
        kind = NUMBER_INT
        if p < n and src[p] == ".":
            kind = NUMBER_FLOAT
            p += 1
            if p >= n or not src[p].isdigit():
                self._no_digit(p, "Decimal point not followed by a digit")
            while p < n and src[p].isdigit():
                p += 1
        if p < n and src[p] in "eE":
            kind = NUMBER_FLOAT
            p += 1
            if p < n and src[p] in "+-":
                p += 1
            if p >= n or not src[p].isdigit():
                self._no_digit(p, "Exponent indicator not followed by a digit")
            while p < n and src[p].isdigit():
                p += 1
        self.pos = p
        self._num = src[start:p]
        return kind

    def next(self):
        """Advance; returns the token kind (None at end of input)."""
        if self._pending is not None:
            # the value entered together with the field name: nothing more is read
            tok, self._pending = self._pending, None
            self._cur = tok
            self._after_value = tok not in (START_OBJECT, START_ARRAY)
            if tok in (START_OBJECT, START_ARRAY):
                self._stack.append("{" if tok == START_OBJECT else "[")
                self._after_value = False
            return tok
        if self._incomplete:
            self._read_string_body()
            self._incomplete = False
        c = self._skip_ws()
        ctx = self._stack[-1] if self._stack else None
        if c is None:
            if ctx is None:
                self._cur = EOF
                return EOF
            kind = "Object" if ctx == "{" else "Array"
            raise self.fail(f"Unexpected end-of-input: expected close marker for {kind}")
        if ctx is None:
            if self._after_value:
                self._cur = EOF          # trailing content is not read (Jackson stops at the root)
                return EOF
            tok = self._value(c)
            return self._emit(tok)
        close = "}" if ctx == "{" else "]"
        if c == close:
            self.pos += 1
            self._stack.pop()
            self._after_value = True
            self._cur = END_OBJECT if close == "}" else END_ARRAY
            return self._cur
        if self._after_value:
            if c != ",":
                what = "Object entries" if ctx == "{" else "Array entries"
                raise self.fail(f"Unexpected character {_char_desc(c)}: was expecting comma to separate {what}")
            self.pos += 1
            c = self._skip_ws()
            if c is None:
                kind = "Object" if ctx == "{" else "Array"
                raise self.fail(f"Unexpected end-of-input: expected close marker for {kind}")
        if ctx == "[":
            if c == "]":
                raise self.fail(f"Unexpected character {_char_desc(c)}: expected a valid value {_EXPECTED_VALUE}")
            return self._emit(self._value(c))
        # object: a field name, a colon, then the value entered eagerly
        if c != '"':
            if c == "}":
                raise self.fail(f"Unexpected character {_char_desc(c)}: was expecting double-quote to start "
                                "field name")
            raise self.fail(f"Unexpected character {_char_desc(c)}: was expecting double-quote to start field name")
        self.pos += 1
        self._name = self._read_string_body()
        c = self._skip_ws()
        if c != ":":
            if c is None:
                raise self.fail("Unexpected end-of-input: expected close marker for Object")
            raise self.fail(f"Unexpected character {_char_desc(c)}: was expecting a colon to separate field name "
                            "and value")
        self.pos += 1
        c = self._skip_ws()
        if c is None:
            raise self.fail(f"Unexpected end-of-input: expected a valid value {_EXPECTED_VALUE}")
        self._pending = self._value(c)
        self._cur = FIELD_NAME
        self._after_value = False
        return FIELD_NAME

    def _emit(self, tok):
        self._cur = tok
        if tok in (START_OBJECT, START_ARRAY):
            self._stack.append("{" if tok == START_OBJECT else "[")
            self._after_value = False
        else:
            self._after_value = True
        return tok
