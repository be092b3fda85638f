"""qmvc.record.Record: the immutable record type of the hot path."""

from __future__ import annotations

import pickle

import pytest

from qmvc.record import Record, replace


class Point(Record):
    x: int
    y: int = 0


class Labelled(Point):
    label: str = ""


def test_fields_take_positions_keywords_and_defaults() -> None:
    assert Point(1) == Point(x=1, y=0) == Point(1, 0)
    assert Labelled(1, 2, "a").label == "a"
    assert Labelled._fields == ("x", "y", "label")


def test_missing_unknown_or_repeated_fields_are_type_errors() -> None:
    with pytest.raises(TypeError):
        Point()
    with pytest.raises(TypeError):
        Point(1, z=2)
    with pytest.raises(TypeError):
        Point(1, x=2)
    with pytest.raises(TypeError):
        Point(1, 2, 3)


def test_records_are_immutable() -> None:
    point = Point(1)
    with pytest.raises(AttributeError):
        point.x = 2  # type: ignore[misc]
    with pytest.raises(AttributeError):
        del point.x  # type: ignore[misc]


def test_equality_and_hash_follow_type_and_values() -> None:
    assert Point(1, 2) != Point(1, 3)
    assert Point(1, 0) != Labelled(1, 0)
    assert hash(Point(1, 2)) == hash(Point(1, 2))
    assert len({Point(1), Point(1), Point(2)}) == 2


def test_pickle_round_trips_and_replace_copies() -> None:
    point = Labelled(1, 2, "a")
    assert pickle.loads(pickle.dumps(point)) == point
    moved = replace(point, y=5)
    assert (moved, point.y) == (Labelled(1, 5, "a"), 2)


def test_class_patterns_match_by_position_and_keyword() -> None:
    match Point(3, 4):
        case Point(3, y=4):
            matched = True
        case _:
            matched = False
    assert matched


def test_as_dict_turns_nested_records_into_plain_data() -> None:
    class Line(Record):
        points: tuple[Point, ...]

    assert Line((Point(1), Point(2, 3))).as_dict() == {
        "points": [{"x": 1, "y": 0}, {"x": 2, "y": 3}]
    }
