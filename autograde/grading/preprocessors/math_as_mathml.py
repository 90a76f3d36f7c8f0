"""MathAsMathML: the maths of markdown cells written as MathML, which browsers draw themselves, on
the pages the course renders as HTML (the formgrader's, the feedback pages).

nbgrader's page templates load MathJax from a CDN: on a machine without internet (an exam room, a
locked-down university network) every formula stays raw `$x$`. MathML needs no script and nothing
from the network, and screen readers read it; each formula keeps its TeX as `alttext`. A formula
latex2mathml cannot read stays as written. Code spans and fenced blocks are left alone.
"""
import html
import re

from latex2mathml.converter import convert
from nbconvert.preprocessors import Preprocessor

CODE = re.compile(r"(```.*?```|~~~.*?~~~|`[^`\n]*`)", re.S)
MATH = re.compile(r"(?<!\\)\$\$(.+?)(?<!\\)\$\$"                      # $$ display $$
                  r"|(?<![\\$])\$(?=\S)([^$\n]+?)(?<![\s\\])\$(?!\d)", re.S)  # $inline$, not "$5 and $6"
TEXT = re.compile(r">([^<]+)<")
MARKDOWN_SIGNS = re.compile(r"[\\`*_\[\]$~|]")  # what markdown would read inside the MathML's text


def as_mathml(markdown):
    """`markdown` with each $...$ and $$...$$ outside code replaced by MathML."""
    parts = CODE.split(markdown)
    parts[::2] = [MATH.sub(_formula, part) for part in parts[::2]]  # the parts between code
    return "".join(parts)


def _formula(match):
    display = match.group(1) is not None
    tex = (match.group(1) if display else match.group(2)).strip()
    try:
        mathml = convert(tex, display="block" if display else "inline")
    except Exception:  # noqa: BLE001 (latex2mathml raises its own kinds for TeX it does not know)
        return match.group(0)
    mathml = TEXT.sub(lambda text: f">{_inert(html.unescape(text.group(1)))}<", mathml)
    return mathml.replace("<math ", f'<math alttext="{_inert(tex)}" ', 1)


def _inert(text):
    """`text` with the characters markdown acts on as character references (the page shows the same)."""
    return MARKDOWN_SIGNS.sub(lambda sign: f"&#{ord(sign.group())};", html.escape(text, quote=True))


class MathAsMathML(Preprocessor):

    def preprocess_cell(self, cell, resources, index):
        if cell.cell_type == "markdown":
            cell.source = as_mathml(cell.source)
        return cell, resources
