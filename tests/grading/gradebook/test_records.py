"""The grader's record of each submission (autograde/grading/gradebook/records.py)."""
import json

from autograde.grading.gradebook.records import Record, read_record, write_record


def test_records_are_plain_json_written_and_read_back(tmp_path):
    """What the grader writes for a submission is JSON any tool reads, and reads back the same."""
    record = Record("hw", "ann", False, reason="not valid JSON", flags=[{"code": "X", "cell": None, "message": "m"}],
                    seconds=1.5, protections=["bubblewrap"])
    path = write_record(tmp_path, record)
    assert json.loads(path.read_text()) == {"assignment": "hw", "student": "ann", "graded": False,
                                            "reason": "not valid JSON", "seconds": 1.5, "protections": ["bubblewrap"],
                                            "flags": [{"code": "X", "cell": None, "message": "m"}]}
    assert read_record(tmp_path, "hw", "ann") == record
