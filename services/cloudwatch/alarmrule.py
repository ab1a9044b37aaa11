"""Composite alarm rules: ALARM("a") AND NOT (OK(b) OR INSUFFICIENT_DATA(c)), TRUE, FALSE.

An alarm is named by name or ARN, quoted or not; AND binds tighter than OR."""

from __future__ import annotations

import re

from services.cloudwatch.errors import validation

_TOK = re.compile(r'\s*(?:(?P<fn>ALARM|OK|INSUFFICIENT_DATA)\s*\(\s*(?P<arg>"[^"]*"|[^)\s]+)\s*\)'
                  r'|(?P<kw>AND|OR|NOT|TRUE|FALSE)\b|(?P<p>[()]))')


def parse(rule: str):
    toks, pos = [], 0
    text = rule.strip()
    while pos < len(text):
        m = _TOK.match(text, pos)
        if m is None or m.end() == pos:
            raise validation(f"Error in alarm rule: unexpected token at position {pos + 1}: '{text[pos:pos + 20]}'")
        if m.group("fn"):
            arg = m.group("arg").strip('"')
            toks.append(("fn", m.group("fn"), arg))
        elif m.group("kw"):
            toks.append(("kw", m.group("kw")))
        else:
            toks.append(("p", m.group("p")))
        pos = m.end()
    if not toks:
        raise validation("Error in alarm rule: the rule is empty")
    i = 0

    def peek():
        return toks[i] if i < len(toks) else (None, None)

    def or_():
        nonlocal i
        node = and_()
        while peek() == ("kw", "OR"):
            i += 1
            node = ("or", node, and_())
        return node

    def and_():
        nonlocal i
        node = unary()
        while peek() == ("kw", "AND"):
            i += 1
            node = ("and", node, unary())
        return node

    def unary():
        nonlocal i
        t = peek()
        i += 1
        if t == ("kw", "NOT"):
            return ("not", unary())
        if t == ("kw", "TRUE"):
            return ("const", True)
        if t == ("kw", "FALSE"):
            return ("const", False)
        if t == ("p", "("):
            node = or_()
            if peek() != ("p", ")"):
                raise validation("Error in alarm rule: unbalanced parentheses")
            i += 1
            return node
        if t[0] == "fn":
            return ("state", t[1], t[2])
        raise validation("Error in alarm rule: unexpected end of rule" if t[0] is None
                         else f"Error in alarm rule: unexpected '{t[1]}'")

    tree = or_()
    if i != len(toks):
        raise validation("Error in alarm rule: unexpected token after the end of the rule")
    return tree


def children(tree) -> set[str]:
    """Alarm names (or ARNs) the rule refers to."""
    kind = tree[0]
    if kind == "state":
        return {tree[2]}
    if kind in ("and", "or"):
        return children(tree[1]) | children(tree[2])
    if kind == "not":
        return children(tree[1])
    return set()


def evaluate(tree, state_of) -> bool:
    """`state_of(name_or_arn)` -> the child's state value, or None when it does not exist."""
    kind = tree[0]
    if kind == "const":
        return tree[1]
    if kind == "state":
        return state_of(tree[2]) == tree[1]
    if kind == "and":
        return evaluate(tree[1], state_of) and evaluate(tree[2], state_of)
    if kind == "or":
        return evaluate(tree[1], state_of) or evaluate(tree[2], state_of)
    return not evaluate(tree[1], state_of)
