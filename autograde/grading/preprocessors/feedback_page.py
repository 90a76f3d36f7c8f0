"""FeedbackPagePreprocessor: the base of this course's steps of the feedback page.

nbgrader's GenerateFeedback builds them with its HTML exporter's config, which sets
NbConvertBase.display_data_priority; nbgrader's base preprocessor redeclares that trait without
`config=True`, so traitlets warned "Config option `display_data_priority` not recognized" once
per step on every run. Declared configurable here (none of the steps reads it), the config fits.
"""
from nbconvert.utils.base import NbConvertBase
from nbgrader.preprocessors import NbGraderPreprocessor
from traitlets import List


class FeedbackPagePreprocessor(NbGraderPreprocessor):
    display_data_priority = List(NbConvertBase.display_data_priority.default_value, config=True)
