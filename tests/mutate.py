"""Hypothesis strategies that damage real recorded responses: elements or keys dropped, text garbled, bytes cut."""

from __future__ import annotations

import json

from bs4 import BeautifulSoup
from hypothesis import strategies as st
from lxml import etree

# Text that XML can hold (no surrogates, no control characters), with markup-like characters among it.
GARBLE = st.text(alphabet=st.characters(blacklist_categories=("Cs", "Cc")) | st.sampled_from("<>&;\"'-/"),
                 max_size=30)
JSON_VALUES = st.recursive(st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | GARBLE,
                           lambda inner: st.lists(inner, max_size=3) | st.dictionaries(GARBLE, inner, max_size=3),
                           max_leaves=6)


def _cut(draw, body: bytes) -> bytes:
    return body[: draw(st.integers(0, len(body)))] if draw(st.booleans()) else body


@st.composite
def mutated_xml(draw, body: bytes) -> bytes:
    """`body` (well-formed XML) with some elements dropped, some texts and attributes garbled, maybe truncated."""
    root = etree.fromstring(body)
    elements = [e for e in root.iter() if isinstance(e.tag, str)]
    for index in draw(st.lists(st.integers(0, len(elements) - 1), max_size=8)):
        element = elements[index]
        action = draw(st.sampled_from(["drop", "text", "attribute"]))
        if action == "drop" and element.getparent() is not None:
            element.getparent().remove(element)
        elif action == "text":
            element.text = draw(GARBLE)
        elif element.attrib:
            element.set(draw(st.sampled_from(sorted(element.attrib))), draw(GARBLE))
    return _cut(draw, etree.tostring(root.getroottree(), encoding="UTF-8", xml_declaration=True))


@st.composite
def mutated_html(draw, body: bytes) -> bytes:
    """`body` (an HTML page) with some tags dropped, some meta contents garbled, maybe truncated."""
    soup = BeautifulSoup(body, "lxml")
    tags = soup.find_all(True)
    for index in draw(st.lists(st.integers(0, len(tags) - 1), max_size=8)):
        tag = tags[index]
        if tag.decomposed:
            continue
        if draw(st.booleans()):
            tag.decompose()
        else:
            tag["content"] = draw(GARBLE)
    return _cut(draw, str(soup).encode())


@st.composite
def mutated_json(draw, body: bytes) -> bytes:
    """`body` (JSON) with some keys dropped and some values replaced by values of any type, maybe truncated."""
    doc = json.loads(body)
    containers = []

    def walk(node):
        if isinstance(node, (dict, list)):
            containers.append(node)
            for child in node.values() if isinstance(node, dict) else node:
                walk(child)

    walk(doc)
    for index in draw(st.lists(st.integers(0, len(containers) - 1), max_size=8)):
        node = containers[index]
        keys = list(node) if isinstance(node, dict) else list(range(len(node)))
        if not keys:
            continue
        key = draw(st.sampled_from(keys))
        if draw(st.booleans()):
            del node[key]
        else:
            node[key] = draw(JSON_VALUES)
    return _cut(draw, json.dumps(doc).encode())
