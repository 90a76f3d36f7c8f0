"""ScanStudentCode: read the student's cells outside the kernel for autograd calls and patches."""
from nbgrader import utils
from nbgrader.preprocessors import NbGraderPreprocessor

from autograde.grading.inspection import scan
from autograde.grading.gradebook.flags import add_flag, cell_name

class ScanStudentCode(NbGraderPreprocessor):
    """Read every cell the student could edit, outside the kernel: autograd calls (A), patches of
    the checks, numpy or torch (P), references to grading files (W), answers that use the checks'
    own code (C)."""

    def preprocess(self, nb, resources):
        protected, own = set(), set()
        for cell in nb.cells:
            if cell.cell_type == "code":
                own |= scan.defined_functions(cell.source)
                if utils.is_locked(cell):
                    protected |= scan.bound_names(cell.source)
        for index, cell in enumerate(nb.cells):
            if cell.cell_type != "code" or utils.is_locked(cell):
                continue
            for code, line, message in scan.scan_source(cell.source, protected, own, utils.is_solution(cell)):
                add_flag(nb, code, f"line {line}: {message}", cell_name(cell, index))
        return nb, resources
