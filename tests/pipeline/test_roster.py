"""Does the one roster reader (course/lms/roster.py) read what `collect`, `grades` and the
feedback bundles need, and refuse what none of them can use, naming every line at fault?

Fast: CSV files and a small nbgrader gradebook, no grading.
"""
from __future__ import annotations

import warnings

import pytest

from course.lms.base import Identity
from course.lms.roster import Roster, RosterError, Student, gradebook_roster, import_roster, read_roster


def roster_file(tmp_path, text: str, name: str = "roster.csv"):
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def refused(path, assignment: str = "") -> str:
    with pytest.raises(RosterError) as err:
        read_roster(path, assignment)
    return str(err.value)


def test_what_grades_needs_is_read(tmp_path):
    """Canvas's optional columns, per-assignment LMS ids, names for the LMS files, file order."""
    path = roster_file(tmp_path, "id,lms_id,first_name,last_name,email,sis_user_id,sis_login_id,section,"
                                 " lms_id: pair ,notes\n"
                                 "s2,2002,Alan,Turing,alan@x,SIS2,aturing,A,3002,ignored\n"
                                 "s1,2001,,,ada@x,,,B,,\n"
                                 "\n"
                                 " , , , , , , , , ,\n")
    roster = read_roster(path)
    assert [s.id for s in roster] == ["s2", "s1"] and len(roster) == 2  # the file's order; blank lines skipped
    s2, s1 = roster.students
    assert s2 == Student("s2", "2002", "Alan", "Turing", "alan@x", "SIS2", "aturing", "A", (("pair", "3002"),))
    assert (s2.name, s2.full_name, s2.sortable_name) == ("Alan Turing", "Alan Turing", "Turing, Alan")
    assert (s1.name, s1.full_name, s1.sortable_name) == ("", "s1", "s1")  # no names: the id stands in
    assert (s2.lms_id_for("pair"), s2.lms_id_for("demo"), s2.lms_id_for(""), s1.lms_id_for("pair")) == \
        ("3002", "2002", "2002", "2001")
    assert set(roster.by_lms) == {"2002", "2001"}
    for_pair = read_roster(path, "pair")  # as `collect pair` reads it: the pair ids match
    assert set(for_pair.by_lms) == {"3002", "2001"}
    assert for_pair.match(Identity(lms_id="3002"))[0].id == "s2"
    assert for_pair.match(Identity(lms_id="2002")) == (None, "not on the roster (LMS id 2002)")


def test_every_faulty_line_is_named(tmp_path):
    """Empty, unusable and duplicated ids, LMS ids given twice (for an assignment too), control
    characters and over-long values: one message names each line, and nothing is read."""
    path = roster_file(tmp_path, "id,lms_id,lms_id:demo,first_name,last_name,email\n"
                                 "s1,5501,,Ada,Lovelace,ada@x\n"       # 2: demo id 5501 (its lms_id)
                                 "s2,9902,5501,Alan,Turing,alan@x\n"   # 3: demo id 5501 again
                                 ",9903,,No,Id,\n"                     # 4
                                 "../s4,9904,,Bad,Id,\n"               # 5
                                 "s1,9905,,Again,Ada,\n"               # 6
                                 "s6,9906,,\"Grace\x1b[31m\",Hopper,\n"  # 7: a terminal escape
                                 f"s7,9907,,{'x' * 129},Long,\n"       # 8: over nbgrader's 128
                                 "s8,9901,,Ed,Dijkstra,\n"             # 9: fine
                                 "s9,9901,,Barbara,Liskov,\n")         # 10: lms_id of line 9
    message = refused(path)
    for needle in ("line 3: the lms_id:demo '5501' is also 's1''s (line 2) (the LMS id for demo)",
                   "line 4: no id", "line 5: the id '../s4' cannot be a student id",
                   "line 6: the id 's1' is also on line 2", "line 7: first_name: control characters",
                   "line 8: first_name: control characters or over 128 characters",
                   "line 10: the lms_id '9901' is also 's8''s (line 9)"):
        assert needle in message, message
    assert "line 2:" not in message and "line 9:" not in message
    assert message.startswith(str(path)) and message.endswith("fix the roster and run again")


def test_names_lms_really_produce_are_read(tmp_path):
    """Joiners (Persian names carry ZWNJ), direction marks and accents are names; the
    embeddings and overrides that reorder what is shown are not."""
    names = "id,lms_id,first_name,last_name,email\n" \
            "s1,1,\u0645\u0647\u062f\u06cc,\u0645\u0647\u062f\u06cc\u200c\u0632\u0627\u062f\u0647,\n" \
            "s2,2,Zoë,O'Brien-Núñez\u200f,\n"
    roster = read_roster(roster_file(tmp_path, names))
    assert roster.by_id["s1"].last_name == "\u0645\u0647\u062f\u06cc\u200c\u0632\u0627\u062f\u0647"
    spoof = "id,lms_id,first_name,last_name,email\ns1,1,Ada,\u202eecalevol,\n"
    assert "line 2: last_name: control characters" in refused(roster_file(tmp_path, spoof, "spoof.csv"))


@pytest.mark.parametrize("text, message", [
    ("student,lms_id\ns1,1\n", "no 'id' column"),
    ("id,first_name\ns1,Ada\n", "no 'lms_id' column; the first line must name the columns "
                                "id,lms_id,first_name,last_name,email (found: id,first_name)"),
    ("name\nAda\n", "no 'id' or 'lms_id' column"),
    ("id,lms_id,email,email\ns1,1,a@x,b@x\n", "line 1: the column(s) 'email' named twice"),
    ("id,lms_id,lms_id:demo,lms_id: demo\ns1,1,2,3\n", "'lms_id:demo' named twice"),
    ("id,lms_id,first_name,last_name,email\n", "no students (only a header?)"),
    ("", "no 'id' or 'lms_id' column"),
    ('id,lms_id,first_name\ns1,1,"' + "x" * 200_000 + '"\n', "line 2: not CSV (field larger than field limit"),
])
def test_unusable_files_are_refused(tmp_path, text, message):
    assert message in refused(roster_file(tmp_path, text))


def test_unreadable_files_are_refused(tmp_path):
    assert "cannot be read" in refused(tmp_path / "missing.csv")
    path = tmp_path / "latin1.csv"
    path.write_bytes("id,lms_id,first_name\ns1,1,Zo\u00eb\n".encode("latin-1"))
    assert "not UTF-8 (byte 28); save it as 'CSV UTF-8'" in refused(path)


def test_the_gradebook_is_the_roster_without_one(tmp_path):
    """import_roster puts names, email and lms_user_id in the gradebook; gradebook_roster reads
    them back (from a URL or an open gradebook), with every student nbgrader added, by id."""
    from course.gradebook import open_gradebook

    url = f"sqlite:///{tmp_path / 'gradebook.db'}"
    assert gradebook_roster(url) is None and not (tmp_path / "gradebook.db").exists()  # never created
    roster = read_roster(roster_file(tmp_path, "id,lms_id,first_name,last_name,email,section\n"
                                               "s2,2002,Alan,Turing,alan@x,A\ns1,2001,Ada,Lovelace,ada@x,B\n"))
    import_roster(roster, url)
    with open_gradebook(url) as gb, warnings.catch_warnings():
        warnings.simplefilter("ignore")
        gb.add_student("graded-only")
        from_gb = gradebook_roster(gb)
    assert isinstance(from_gb, Roster) and from_gb.source == "the gradebook"
    assert [s.id for s in from_gb] == ["graded-only", "s1", "s2"]
    assert from_gb.by_id["s1"] == Student("s1", "2001", "Ada", "Lovelace", "ada@x")  # the gradebook has no section
    assert gradebook_roster(url).by_id["graded-only"] == Student("graded-only")
