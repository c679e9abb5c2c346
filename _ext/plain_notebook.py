"""A chapter's executed notebook, rewritten to read in plain Jupyter.

The chapters are MyST notebooks: their Markdown holds roles and directives that only
the book's build understands (``{glue:text}`name:.4f```, ``{eq}`eq-...```,
```` ```{prf:theorem} ````...). Opened in Jupyter they showed as raw markup, and the
glued formulas, the verified ones, were missing. The notebook a reader downloads is
rewritten here, from what the build knows:

- glued values and formulas are written in, formatted as on the page;
- references to equations, figures, theorems and sections become their numbers or
  titles, as on the page; other chapters are named by number and title;
- citations become "(Author, year)" with a bibliography at the end;
- ``{math}`` and ``{glue:math}`` blocks become ``$$...$$`` with their number as a tag;
  theorems, proofs and notes become headed paragraphs and quotes;
- a first cell defines the book's TeX macros (``\\R``, ``\\E``...).

``plain_markdown`` is a pure function of a Markdown cell and a ``References``;
_ext/book_site.py builds the ``References`` from Sphinx's environment.
"""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass, field
from typing import Any

GLUE_PREFIX = "application/papermill.record/"
ROLE = re.compile(r"\{([a-z][a-z:-]*)\}`([^`]*)`")
FENCE_OPEN = re.compile(r"^(`{3,}|:{3,})\{([a-z][a-z:-]*)\}[ \t]*(.*)$")
LABEL_LINE = re.compile(r"^\(([A-Za-z0-9_.:-]+)\)=[ \t]*$")
DOLLAR_LABEL = re.compile(r"^\$\$[ \t]*\(([A-Za-z0-9_.:-]+)\)[ \t]*$")  # $$ (eq-x)
PROOF_KINDS = {"theorem": "Theorem", "lemma": "Lemma", "corollary": "Corollary",
               "proposition": "Proposition", "definition": "Definition",
               "algorithm": "Algorithm", "example": "Example", "remark": "Remark"}
# sphinx-exercise's gated solution: the cells between these directives are its body.
SOLUTION_START, SOLUTION_END = "solution-start", "solution-end"


@dataclass
class References:
    """What the build resolved: numbers and titles by label, and the bibliography."""

    equations: dict[str, str] = field(default_factory=dict)  # label -> "(1.3)"
    numbered: dict[str, str] = field(default_factory=dict)  # label -> "Fig. 1.3"
    titles: dict[str, str] = field(default_factory=dict)  # label -> section title
    documents: dict[str, str] = field(default_factory=dict)  # stem -> "chapter 1, *T*"
    citations: dict[str, str] = field(default_factory=dict)  # key -> "Ball, 1997"
    entries: dict[str, str] = field(default_factory=dict)  # key -> formatted entry
    macros: dict[str, Any] = field(default_factory=dict)  # MathJax macros


class UnresolvedReference(KeyError):
    """A role or directive whose target the build does not know."""


def glue_values(notebook: Any) -> dict[str, dict[str, str]]:
    """Every glued value of an executed notebook: name -> {MIME type: data}."""
    values: dict[str, dict[str, str]] = {}
    for cell in notebook.get("cells", []):
        for output in cell.get("outputs", []):
            name = output.get("metadata", {}).get("scrapbook", {}).get("name")
            if name is None:
                continue
            values[name] = {mime[len(GLUE_PREFIX):]: data
                            for mime, data in output.get("data", {}).items()
                            if mime.startswith(GLUE_PREFIX)}
    return values


def _latex(value: dict[str, str], name: str) -> str:
    """A glued value as TeX without delimiters (SymPy writes $\\displaystyle ...$)."""
    if "text/latex" not in value:
        raise UnresolvedReference(f"glued value {name!r} has no LaTeX form")
    tex = value["text/latex"].strip()
    for delimiter in ("$$", "$"):
        if tex.startswith(delimiter) and tex.endswith(delimiter):
            tex = tex[len(delimiter):-len(delimiter)].strip()
            break
    return tex.removeprefix("\\displaystyle").strip()


def _text(value: dict[str, str], spec: str) -> str:
    """A glued value as {glue:text} shows it (MyST-NB's rule): the text/plain form,
    unquoted when it is a literal, converted for the format type and formatted."""
    plain = value.get("text/plain", "")
    try:
        literal = ast.literal_eval(plain)
    except (ValueError, SyntaxError):  # not a literal (a SymPy or NumPy repr...)
        literal = plain
    if not spec:
        return str(literal)
    kind = spec[-1]
    try:
        if kind == "s":
            literal = str(literal)
        elif kind in "bcdoxX":
            literal = int(literal)
        elif kind in "eEfFgGn%":
            literal = float(literal)
        return format(literal, spec)
    except (ValueError, TypeError):
        raise UnresolvedReference(f"cannot format {plain!r} with {spec!r}") from None


def _target(content: str) -> tuple[str | None, str]:
    """``text <label>`` -> (text, label); ``label`` -> (None, label)."""
    match = re.fullmatch(r"(.*?)\s*<([^<>]+)>", content.strip(), re.DOTALL)
    return (match.group(1), match.group(2)) if match else (None, content.strip())


def _role(name: str, content: str, glue: dict[str, dict[str, str]], refs: References,
          cited: list[str]) -> str:
    try:
        if name == "glue:text":
            key, _, spec = content.partition(":")
            return _text(glue[key], spec)
        if name in ("glue", "glue:any"):
            value = glue[content]
            return f"${_latex(value, content)}$" if "text/latex" in value else value[
                "text/plain"]
        if name == "glue:math":
            return f"${_latex(glue[content], content)}$"
        if name == "eq":
            return refs.equations[content]
        if name in ("numref", "prf:ref", "ref", "doc"):
            text, label = _target(content)
            if name == "doc":
                return text or refs.documents[label.rsplit("/", 1)[-1]]
            if name == "ref":
                return text or refs.titles[label]
            number = refs.numbered[label]
            if text and "%s" in text:
                return text.replace("%s", number.split()[-1])
            return text or number
        if name.startswith("py:"):  # a lib name, linked to the reference in the book
            text, label = _target(content)
            return f"`{text or label.removeprefix('~')}`"
        if name.startswith("cite"):
            keys = [k.strip() for k in content.split(",") if k.strip()]
            cited.extend(k for k in keys if k not in cited)
            labels = "; ".join(refs.citations[k] for k in keys)
            return labels if name == "cite:t" else f"({labels})"
    except KeyError as missing:
        raise UnresolvedReference(f"{{{name}}}`{content}`: {missing}") from None
    raise UnresolvedReference(f"unknown role {{{name}}}`{content}`")


def _options(lines: list[str]) -> tuple[dict[str, str], list[str]]:
    options: dict[str, str] = {}
    body = list(lines)
    while body and (match := re.match(r"^:([a-z-]+):\s*(.*)$", body[0])):
        options[match.group(1)] = match.group(2).strip()
        body.pop(0)
    return options, body


def _headed(heading: str, body: str) -> str:
    """A bold run-in heading, or a heading paragraph when the body opens with a block
    (a list, a table, a display): run in, a list's first item would join the heading."""
    body = body.strip()
    if re.match(r"(?:[-*+] |\d+\. |\||\$\$|>|#)", body):
        return f"**{heading}**\n\n{body}"
    return f"**{heading}** {body}"


def _quote(text: str) -> str:
    return "\n".join(f"> {line}" if line else ">" for line in text.strip("\n").split("\n"))


def _directive(name: str, argument: str, lines: list[str],
               glue: dict[str, dict[str, str]], refs: References, cited: list[str]) -> str:
    options, body_lines = _options(lines)
    label = options.get("label") or options.get("name")
    if name in ("math", "glue:math"):
        tex = (_latex(glue[argument], argument) if name == "glue:math"
               else "\n".join(body_lines).strip())
        if label:
            try:
                tex += f" \\tag{{{refs.equations[label].strip('()')}}}"
            except KeyError:
                raise UnresolvedReference(f"equation {label!r} has no number") from None
        return f"$$\n{tex}\n$$"
    body = plain_markdown("\n".join(body_lines), glue, refs, cited)
    if name.startswith("prf:"):
        kind = name[4:]
        if kind == "proof":
            return f"*Proof.* {body.strip()} $\\blacksquare$"
        heading = PROOF_KINDS.get(kind, kind.title())
        if label and label in refs.numbered:
            heading = refs.numbered[label]
        title = f" ({argument})" if argument else ""
        return _headed(f"{heading}{title}.", body)
    if name == "exercise":
        heading = refs.numbered.get(label or "", "Exercise")
        title = f" ({argument})" if argument else ""
        return _headed(f"{heading}{title}.", body)
    if name in ("solution", SOLUTION_START):
        # The argument is the exercise's label.
        try:
            exercise = refs.numbered[argument]
        except KeyError:
            raise UnresolvedReference(f"solution to unknown exercise {argument!r}") from None
        if name == SOLUTION_START:  # the body follows in cells that stay folded
            return (f"**Solution to {exercise}.** Its cells below are folded; "
                    "click the bar of a folded cell to open it.")
        return _quote(_headed(f"Solution to {exercise}.", body))
    if name == SOLUTION_END:
        return ""
    if name in ("note", "warning", "tip", "important", "caution", "hint", "seealso"):
        return _quote(_headed(f"{name.title()}.", body))
    if name == "admonition":
        return _quote(_headed(f"{argument}.", body) if argument else body.strip())
    raise UnresolvedReference(f"unknown directive {{{name}}}")


def plain_markdown(source: str, glue: dict[str, dict[str, str]], refs: References,
                   cited: list[str] | None = None) -> str:
    """One Markdown cell with every MyST role and directive resolved.

    ``cited`` collects the citation keys in order of first use (for the bibliography).
    Raises UnresolvedReference for a role or directive it cannot resolve.
    """
    cited = [] if cited is None else cited
    lines = source.split("\n")
    out: list[str] = []
    i = 0
    while i < len(lines):
        line = lines[i]
        if LABEL_LINE.match(line):  # a target for references: nothing to show
            i += 1
            continue
        labelled = DOLLAR_LABEL.match(line)
        if labelled:  # the end of a $$ display with a label
            number = refs.equations.get(labelled.group(1))
            if number is None:
                raise UnresolvedReference(f"equation {labelled.group(1)!r} has no number")
            out += [f"\\tag{{{number.strip('()')}}}", "$$"]
            i += 1
            continue
        opening = FENCE_OPEN.match(line)
        if opening:
            fence, name, argument = opening.groups()
            end = next((j for j in range(i + 1, len(lines)) if lines[j].strip() == fence),
                       None)
            if end is None:
                raise UnresolvedReference(f"unclosed directive {{{name}}}")
            out.append(_directive(name, argument.strip(), lines[i + 1:end], glue, refs,
                                  cited))
            i = end + 1
            continue
        out.append(line)
        i += 1
    text = "\n".join(out)
    return ROLE.sub(lambda m: _role(m.group(1), m.group(2), glue, refs, cited), text)


def solution_cells(sources: list[str]) -> list[bool]:
    """Which cells (given their MyST sources, in order) hold a gated solution's body:
    those after the cell that opens it (``solution-start``) up to the one that closes it
    (``solution-end``). The plain notebook folds them, as the page does.

    Each of the two directives must end its cell (``+++`` after it in the chapter), so
    that no cell holds both the solution and what follows it; ValueError otherwise.
    """
    inside, folded = False, []
    for number, source in enumerate(sources, 1):
        lines = source.rstrip().split("\n")
        fences = [(i, m.group(2)) for i, line in enumerate(lines)
                  if (m := FENCE_OPEN.match(line))
                  and m.group(2) in (SOLUTION_START, SOLUTION_END)]
        if len(fences) > 1:
            raise ValueError(f"cell {number}: a solution opens and closes in one cell")
        if fences:
            index, name = fences[0]
            closing = next((j for j in range(index + 1, len(lines))
                            if lines[j].strip() == FENCE_OPEN.match(lines[index]).group(1)),
                           None)
            if closing != len(lines) - 1:
                raise ValueError(f"cell {number}: {{{name}}} must end its cell (+++ after it)")
            if (name == SOLUTION_START) == inside:
                raise ValueError(f"cell {number}: {{{name}}} out of order")
            folded.append(inside)
            inside = name == SOLUTION_START
        else:
            folded.append(inside)
    if inside:
        raise ValueError("a solution is never closed ({solution-end})")
    return folded


def macro_cell(macros: dict[str, Any]) -> str:
    """Markdown defining the book's TeX macros for Jupyter's MathJax (renders empty)."""
    definitions = []
    for name, body in sorted(macros.items()):
        if isinstance(body, (list, tuple)):
            definitions.append(f"\\newcommand{{\\{name}}}[{body[1]}]{{{body[0]}}}")
        else:
            definitions.append(f"\\newcommand{{\\{name}}}{{{body}}}")
    return "$" + " ".join(definitions) + "$"


def unresolved_markup(markdown: str) -> list[str]:
    """MyST roles, directives and label lines left in Markdown (what plain Jupyter
    would show raw)."""
    found = [m.group(0) for m in ROLE.finditer(markdown)]
    found += [line for line in markdown.split("\n")
              if FENCE_OPEN.match(line) or LABEL_LINE.match(line)
              or DOLLAR_LABEL.match(line)]
    return found
