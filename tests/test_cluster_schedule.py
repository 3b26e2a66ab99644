"""Which analyser of a cluster does what, in the orders of failure a real cluster cannot be
made to produce on demand: a long file's parts go to any analyser and its last call to the one
holding it; an analyser lost mid-part, a holder lost before or after its file is done; stale
answers ignored; every file's result once, in input order. (The whole path, on a real
two-node cluster, is tests/test_batch_cluster.py.)"""

from __future__ import annotations

from pathlib import Path

import pytest

pytest.importorskip("ray", reason="etiquette[cluster] (Ray) is not installed")

from etiquette.batch import FileError  # noqa: E402
from etiquette.cluster import Call, Parts, Schedule  # noqa: E402
from etiquette.speech.recogniser import Decoding  # noqa: E402

FILES = [Path("long.ogg"), Path("short.ogg")]
A, B = object(), object()  # two analysers
DECODING = Decoding(None, 5)


def result(k: int) -> FileError:
    """A file's result (any Result will do here)."""
    return FileError(str(FILES[k]), f"result {k}")


def two_parts(key: int = 0) -> Parts:
    return Parts(key, ["part 0", "part 1"], DECODING)


def started() -> tuple[Schedule, Call, Call]:
    """The long file held by A in two parts, the short one being analysed by B."""
    schedule = Schedule(FILES)
    first, second = schedule.next_call(A), schedule.next_call(B)
    assert first == Call("analyse", 0, 0, 0) and second == Call("analyse", 1, 0, 0)
    schedule.answered(first, A, two_parts())
    return schedule, first, second


def test_parts_go_to_any_analyser_the_last_call_to_the_holder_results_in_input_order():
    schedule, _, short = started()
    assert schedule.next_call(A) == Call("transcribe", 0, 0, 0)
    schedule.answered(short, B, result(1))
    assert list(schedule.ready()) == []  # the short file waits for the long one before it
    assert schedule.next_call(B) == Call("transcribe", 0, 1, 0)
    schedule.answered(Call("transcribe", 0, 0, 0), A, [])
    schedule.answered(Call("transcribe", 0, 1, 0), B, [])
    assert schedule.next_call(B) is None  # not the holder
    finish = schedule.next_call(A)
    assert finish == Call("finish", 0, 0, 0)
    schedule.answered(finish, A, result(0))
    assert list(schedule.ready()) == [(FILES[0], result(0)), (FILES[1], result(1))]
    assert schedule.finished


def test_a_part_whose_analyser_is_lost_is_transcribed_again_by_another():
    schedule, _, short = started()
    schedule.answered(short, B, result(1))
    part0, part1 = schedule.next_call(A), schedule.next_call(B)
    schedule.actor_lost(part1, B)
    schedule.answered(part0, A, [])
    assert schedule.next_call(A) == part1  # again, by the one left
    schedule.answered(part1, A, [])
    finish = schedule.next_call(A)
    schedule.answered(finish, A, result(0))
    assert [p for p, _ in schedule.ready()] == FILES


def test_a_lost_holder_starts_its_file_again_and_late_answers_of_before_are_ignored():
    schedule, _, short = started()
    schedule.answered(short, B, result(1))
    part0 = schedule.next_call(B)
    schedule.holder_lost(A)  # its audio and its waiting thread are gone
    schedule.answered(part0, B, [])  # answered, but for the lost attempt
    again = schedule.next_call(B)
    assert again == Call("analyse", 0, 0, 1)
    schedule.answered(again, B, two_parts(key=7))
    for _ in range(2):
        part = schedule.next_call(B)
        assert part is not None and part.attempt == 1
        schedule.answered(part, B, [])
    finish = schedule.next_call(B)
    assert finish == Call("finish", 0, 0, 1)
    schedule.answered(finish, B, result(0))
    assert list(schedule.ready()) == [(FILES[0], result(0)), (FILES[1], result(1))]


def test_a_holder_lost_after_its_file_is_done_starts_nothing_again():
    schedule, _, short = started()
    for call in (schedule.next_call(A), schedule.next_call(B)):
        schedule.answered(call, A, [])
    schedule.answered(schedule.next_call(A), A, result(0))
    schedule.holder_lost(A)
    assert schedule.next_call(B) is None  # the short file is with B already
    schedule.answered(short, B, result(1))
    assert [p for p, _ in schedule.ready()] == FILES


@pytest.mark.slow
def test_a_part_that_fails_to_transcribe_fails_its_file_as_on_one_machine(tmp_path):
    """The analyser's own calls, in this process (Ray started locally for its object store):
    a part's failure reaches the file's holder, which reports the file as one machine would."""
    import ray

    from etiquette.cluster import Analyser
    from etiquette.pipeline import PipelineOptions
    from etiquette.speech.recogniser import RecogniserOptions
    from etiquette.vision.watcher import PresenceOptions

    from factories import ROOT

    ray.init(num_cpus=1, include_dashboard=False, logging_level="ERROR")
    try:
        analyser = Analyser(PipelineOptions(recogniser=RecogniserOptions(part_inputs=1)),
                            PresenceOptions(), ROOT)
        held = analyser.analyse(Path("tests/data/phrase_forms_stereo.ogg"), None, None)
        assert isinstance(held, Parts) and len(held.parts) == 2
        first = analyser.transcribe(ray.get(held.parts[0]), held.decoding)
        assert isinstance(first, list) and any(t.text for t in first)
        failed = analyser.finish(held.key, [first, RuntimeError("out of memory")])
        assert isinstance(failed, FileError)
        assert failed.error == "内部错误 (internal error): RuntimeError: out of memory"
        assert analyser.waiting == {}  # nothing left holding the file
    finally:
        ray.shutdown()
