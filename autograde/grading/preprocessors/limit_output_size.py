"""LimitOutputSize: cap the size of each output (nbgrader's LimitOutput only counts lines)."""
from nbgrader.preprocessors import NbGraderPreprocessor
from traitlets import Integer

from ..flags import add_flag, cell_name

class LimitOutputSize(NbGraderPreprocessor):
    """nbgrader's LimitOutput caps the number of lines; this caps their size, so a cell printing
    megabytes on one line cannot bloat the graded notebook and the feedback. Flag O."""

    max_chars = Integer(20000, help="Most characters kept per text output.").tag(config=True)
    max_data_chars = Integer(2_000_000, help="Largest image or other binary output kept (base64 chars).").tag(
        config=True)

    def preprocess(self, nb, resources):
        for index, cell in enumerate(nb.cells):
            if any([self._limit(out) for out in cell.get("outputs", [])]):
                add_flag(nb, "O", "output too large: cut", cell_name(cell, index))
        return nb, resources

    def _limit(self, out):
        truncated = False
        if out.get("output_type") == "stream" and len(out.get("text", "")) > self.max_chars:
            out["text"] = out["text"][:self.max_chars] + "\n... Output truncated ...\n"
            truncated = True
        for mime, value in list(out.get("data", {}).items()):
            text = "".join(value) if isinstance(value, list) else value if isinstance(value, str) else ""
            if mime.startswith("text/") and len(text) > self.max_chars:
                out["data"][mime] = text[:self.max_chars] + "\n... Output truncated ..."
                truncated = True
            elif not mime.startswith("text/") and len(text) > self.max_data_chars:
                del out["data"][mime]
                truncated = True
        return truncated
