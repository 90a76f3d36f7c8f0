"""Hidden tests kept out of what a student sees (autograde/grading/inspection/hidden.py)."""
from autograde.grading.inspection import hidden


def test_hidden_region_is_removed_and_the_visible_part_kept():
    source = "visible()\n    ### BEGIN HIDDEN TESTS\n    secret(101)\n    ### END HIDDEN TESTS\nafter()"
    shown = hidden.hide_hidden_tests(source)
    assert "secret" not in shown and "visible()" in shown and "after()" in shown
    assert hidden.HIDDEN_NOTE in shown
    assert "secret" not in hidden.hide_hidden_tests("a\n### BEGIN HIDDEN TESTS\nsecret()")  # unclosed


def test_traceback_keeps_the_students_frames_and_the_message_only():
    traceback = [
        "\x1b[31m-----\x1b[39m",
        "\x1b[31mGradientMismatch\x1b[39m   Traceback (most recent call last)",
        "\x1b[36mCell\x1b[39m \x1b[32mIn[6]\x1b[39m, line 4\n----> 4 grader.check_staged(secret_input)",
        "\x1b[36mFile \x1b[39m/work/autograde/chapters/chain_rule.py:99, in check_staged\n  97 hidden_ref = 1",
        "\x1b[36mCell\x1b[39m \x1b[32mIn[5]\x1b[39m, line 12, in staged_backward\n---> 12 dx = dnum",
        "\x1b[31mGradientMismatch\x1b[39m: dx is wrong: accumulate with `dx += ...`",
    ]
    kept = hidden.student_traceback(traceback, student_cells={5})
    text = "\n".join(kept)
    assert "secret_input" not in text and "hidden_ref" not in text
    assert "staged_backward" in text and kept[-1] == traceback[-1] and hidden.FRAMES_NOTE in kept
