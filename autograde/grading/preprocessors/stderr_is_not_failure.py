"""StderrIsNotFailure: a test cell that wrote only warnings or progress bars to stderr keeps its points.

nbgrader gives a test cell zero points if anything reached stderr. Torch and numpy print warnings
there, and tqdm draws progress bars there, so a correct answer could score zero. In this course a
test fails by raising; this moves the stderr text of cells without an error to stdout (prefixed,
so nothing is hidden) before grades are saved.
"""
from nbgrader.preprocessors import NbGraderPreprocessor

class StderrIsNotFailure(NbGraderPreprocessor):
    prefix = "[stderr] "

    def preprocess_cell(self, cell, resources, index):
        outputs = cell.get("outputs", [])
        if any(out.get("output_type") == "error" for out in outputs):
            return cell, resources
        for out in outputs:
            if out.get("output_type") == "stream" and out.get("name") == "stderr":
                out["name"] = "stdout"
                text = out.get("text", "")
                out["text"] = "".join(self.prefix + line for line in text.splitlines(keepends=True))
        return cell, resources
