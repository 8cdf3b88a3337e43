from callctl.build.patchout import attach_hunk_text, parse_patch_output, split_hunks

PATCH = """From 1 Mon Sep 17 00:00:00 2001
Subject: [PATCH] demo

---
diff --git a/pjnath/src/ice.c b/pjnath/src/ice.c
--- a/pjnath/src/ice.c
+++ b/pjnath/src/ice.c
@@ -1,3 +1,3 @@
 one
-two
+TWO
 three
@@ -10,2 +10,3 @@
 ten
+ten and a half
 eleven
diff --git a/README b/README
--- a/README
+++ b/README
@@ -1 +1,2 @@
 readme
+more
--
2.39.5
"""


def test_exact_apply_has_no_problems() -> None:
    out = "checking file pjnath/src/ice.c\nchecking file README\n"
    assert parse_patch_output(out) == []


def test_offset_and_fuzz_count_as_problems() -> None:
    out = (
        "patching file pjnath/src/ice.c\n"
        "Hunk #1 succeeded at 4 (offset 3 lines).\n"
        "Hunk #2 succeeded at 20 with fuzz 1.\n"
    )
    problems = parse_patch_output(out)
    assert [(p.file, p.hunk, p.kind) for p in problems] == [
        ("pjnath/src/ice.c", 1, "offset"),
        ("pjnath/src/ice.c", 2, "fuzz"),
    ]


def test_failed_hunk_carries_its_text() -> None:
    out = "checking file pjnath/src/ice.c\nHunk #2 FAILED at 10.\n1 out of 2 hunks FAILED\n"
    problems = parse_patch_output(out)
    attach_hunk_text(problems, PATCH)
    assert problems[0].kind == "failed" and problems[0].hunk == 2
    assert "+ten and a half" in problems[0].text and "TWO" not in problems[0].text


def test_missing_file_and_reversed_patch() -> None:
    out = (
        "can't find file to patch at input line 5\n"
        "No file to patch.  Skipping patch.\n"
        "checking file README\n"
        "Reversed (or previously applied) patch detected!  Skipping patch.\n"
    )
    kinds = [p.kind for p in parse_patch_output(out)]
    assert "missing-file" in kinds and "reversed" in kinds


def test_split_hunks_drops_the_signature() -> None:
    hunks = split_hunks(PATCH)
    assert list(hunks) == ["pjnath/src/ice.c", "README"]
    assert len(hunks["pjnath/src/ice.c"]) == 2
    assert "2.39.5" not in hunks["README"][0]
