"""The run process's garbage collector: paused while the program loads, then what it loaded is frozen out of later
collections and the young generation is larger; in any other process (tests, a second run) nothing changes."""

from __future__ import annotations

import gc

from vip_pipeline import garbage


def test_what_was_loaded_is_frozen_and_the_collector_resumes_with_a_larger_young_generation():
    threshold, frozen = gc.get_threshold(), gc.get_freeze_count()
    try:
        garbage.resume_after_loading()  # the collector was never paused: nothing changes
        assert gc.isenabled() and gc.get_threshold() == threshold and gc.get_freeze_count() == frozen

        garbage.pause_while_loading()
        assert not gc.isenabled()
        loaded = [["definition", n] for n in range(1000)]  # what a run's process loads and keeps (lists: tracked)
        garbage.resume_after_loading()
        assert gc.isenabled() and gc.get_freeze_count() >= frozen + len(loaded)
        assert gc.get_threshold() == (garbage.YOUNG_GENERATION, *threshold[1:])
        walked = {id(o) for o in gc.get_objects()}  # what later collections walk: not the frozen objects
        assert all(gc.is_tracked(d) for d in loaded) and not any(id(d) in walked for d in loaded)
    finally:
        gc.unfreeze()
        gc.set_threshold(*threshold)
        gc.enable()


def test_only_the_program_pauses_the_collector_when_it_runs(tmp_path):
    """`vip-pipeline run` imported by a test is not the program: the test's process keeps its collector."""
    from vip_pipeline import cli

    assert not cli._PROGRAM
    cli.main(["run", "--landing", str(tmp_path / "missing"), "--staging-dir", str(tmp_path / "staging")])
    assert gc.isenabled()
