"""Compare a submission's nbgrader cells with the release and put deleted ones back.

nbgrader already restores the source of edited locked cells and the type of retyped cells
(OverwriteCells) and strips the id of duplicates (DeduplicateIds), silently. This module says
what it found, so the instructor and the student see it, and restores deleted cells itself:
nbgrader's own re-insertion (`add_missing_cells`) raises KeyError when the cell before a deleted
one is not a grade or solution cell, and it never restores locked cells such as the setup cell.
"""
from dataclasses import dataclass

from nbformat import NotebookNode
from nbformat.v4 import new_code_cell, new_markdown_cell, new_raw_cell
from nbgrader.preprocessors import ClearHiddenTests


@dataclass
class MasterCell:
    """One cell nbgrader knows from the release (a row of the gradebook's source cells)."""
    name: str
    cell_type: str
    source: str
    checksum: str
    locked: bool
    grade: bool = False
    solution: bool = False
    points: float = 0.0


def master_cells(gradebook, notebook_id, assignment_id):
    """The release's nbgrader cells, in notebook order, from the gradebook."""
    notebook = gradebook.find_notebook(notebook_id, assignment_id)
    points = {cell.name: cell.max_score for cell in notebook.grade_cells}
    solutions = {cell.name for cell in notebook.solution_cells}
    return [
        MasterCell(cell.name, cell.cell_type, cell.source, cell.checksum, bool(cell.locked),
                   cell.name in points, cell.name in solutions, points.get(cell.name, 0.0))
        for cell in notebook.source_cells
    ]


def grade_id(cell):
    return cell.metadata.get("nbgrader", {}).get("grade_id")


def findings(nb, master):
    """[(cell id, message)] for every graded or locked cell that was duplicated, retyped or edited.
    (Deleted cells are reported by `restore_missing`.)"""
    known = {cell.name: cell for cell in master}
    seen = {}
    for cell in nb.cells:
        if grade_id(cell) in known:
            seen[grade_id(cell)] = seen.get(grade_id(cell), 0) + 1
    found = []
    for name, count in seen.items():
        if count > 1 and (known[name].grade or known[name].locked):
            found.append((name, f"appears {count} times; only the last copy is graded"))
    reported = set()
    for cell in nb.cells:
        name = grade_id(cell)
        if name not in known or name in reported:
            continue
        original = known[name]
        if cell.cell_type != original.cell_type:
            found.append((name, f"was turned from a {original.cell_type} cell into a {cell.cell_type} cell; "
                                "restored"))
            reported.add(name)
        elif original.locked and cell.source.rstrip() != released_source(original).rstrip():
            found.append((name, "is a locked cell but was edited; the release's version was graded"))
            reported.add(name)
    return found


def drop_duplicate_ids(nb):
    """Keep the nbgrader identity on the last copy of a duplicated cell only (as DeduplicateIds
    does) but remove the metadata of the other copies entirely: DeduplicateIds leaves `{}`, which
    nbgrader's metadata check then rejects as "an old version" and the whole notebook fails."""
    seen = set()
    for cell in reversed(nb.cells):
        name = grade_id(cell)
        if name is None:
            continue
        if name in seen:
            del cell.metadata["nbgrader"]
        seen.add(name)


def released_source(original):
    """What the student was handed: the master's source without its hidden tests."""
    cell = NotebookNode(source=original.source, cell_type=original.cell_type)
    ClearHiddenTests()._remove_hidden_test_region(cell)
    return cell.source


def restore_missing(nb, master):
    """Insert every release cell that the submission lacks, after the nearest earlier release cell
    it has. Returns [(cell id, message)]."""
    present = {grade_id(cell) for cell in nb.cells}
    restored = []
    for position, original in enumerate(master):
        if original.name in present or not (original.grade or original.locked):
            continue
        index = insertion_index(nb, [cell.name for cell in master[:position]])
        nb.cells.insert(index, rebuild(original))
        present.add(original.name)
        kind = "graded test" if original.grade and not original.solution else "locked" if original.locked else "answer"
        restored.append((original.name, f"{kind} cell was deleted; restored from the release"))
    return restored


def insertion_index(nb, earlier_names):
    """Index just after the last cell of the submission that carries one of `earlier_names`."""
    wanted = set(earlier_names)
    for index in range(len(nb.cells) - 1, -1, -1):
        if grade_id(nb.cells[index]) in wanted:
            return index + 1
    return 0


def rebuild(original):
    meta = {"nbgrader": {
        "grade": original.grade, "grade_id": original.name, "locked": original.locked,
        "solution": original.solution, "task": False, "checksum": original.checksum,
        "cell_type": original.cell_type, "schema_version": 3,
    }}
    if original.grade:
        meta["nbgrader"]["points"] = original.points
    maker = {"code": new_code_cell, "markdown": new_markdown_cell}.get(original.cell_type, new_raw_cell)
    return maker(source=original.source, metadata=meta)
