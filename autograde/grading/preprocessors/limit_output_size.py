"""LimitOutputSize: cap the size of each output and of all outputs of a notebook together
(nbgrader's LimitOutput only counts lines)."""
from nbgrader.preprocessors import NbGraderPreprocessor
from traitlets import Integer

from autograde.grading.gradebook.flags import add_flag, cell_name

DROPPED = "[removed: this notebook's outputs are over the size limit]"
KEPT_CHARS = 2000  # what is left of a stream, and the largest data kept, once the notebook is over its total


class LimitOutputSize(NbGraderPreprocessor):
    """nbgrader's LimitOutput caps the number of lines; this caps their size, so a cell printing
    megabytes on one line, or many cells each showing a large image, cannot bloat the graded
    notebook and the feedback. Flag O. Errors are never removed (nbgrader scores a test cell by
    them): past the notebook's total, streams are cut short and large data (images) dropped."""

    max_chars = Integer(20000, help="Most characters kept per text output.").tag(config=True)
    max_data_chars = Integer(2_000_000, help="Largest image or other binary output kept (base64 chars).").tag(
        config=True)
    max_total_chars = Integer(8_000_000, help="Outputs past this many characters in one notebook keep only "
                                              "their errors, the start of their text and their small data.").tag(config=True)

    def preprocess(self, nb, resources):
        total = 0
        for index, cell in enumerate(nb.cells):
            cut = False
            for out in cell.get("outputs", []):
                cut |= self._limit(out, self.max_chars, self.max_data_chars)
                total += output_size(out)
                if total > self.max_total_chars:
                    cut |= self._limit(out, KEPT_CHARS, KEPT_CHARS)
            if cut:
                add_flag(nb, "O", "output too large: cut", cell_name(cell, index))
        return nb, resources

    @staticmethod
    def _limit(out, max_chars, max_data_chars):
        truncated = False
        if out.get("output_type") == "stream" and len(out.get("text", "")) > max_chars:
            out["text"] = out["text"][:max_chars] + "\n... Output truncated ...\n"
            truncated = True
        data = out.get("data", {})
        for mime, value in list(data.items()):
            text = "".join(value) if isinstance(value, list) else value if isinstance(value, str) else ""
            if mime.startswith("text/") and len(text) > max_chars:
                data[mime] = text[:max_chars] + "\n... Output truncated ..."
                truncated = True
            elif not mime.startswith("text/") and len(text) > max_data_chars:
                del data[mime]
                truncated = True
        if truncated and "data" in out and not data:
            data["text/plain"] = DROPPED
        return truncated


def output_size(out):
    """Characters an output adds to the notebook (its text, its data, its traceback)."""
    def size(value):
        return len(value) if isinstance(value, str) else sum(map(size, value)) if isinstance(value, list) else 0
    return size(out.get("text", "")) + size(out.get("traceback", [])) + sum(
        size(value) for value in out.get("data", {}).values())
