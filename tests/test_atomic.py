import pytest

from vec2vec.atomic import atomic_dir, atomic_path, remove_stale_temps, write_json


def test_failed_write_leaves_the_old_file_and_no_temp(tmp_path):
    target = tmp_path / "data.json"
    write_json(target, {"v": 1})
    with pytest.raises(RuntimeError), atomic_path(target) as tmp:
        tmp.write_text('{"v": 2, "half')
        raise RuntimeError("killed mid-write")
    assert target.read_text().strip().endswith("}") and '"v": 1' in target.read_text()
    assert [p.name for p in tmp_path.iterdir()] == ["data.json"]


def test_atomic_dir_replaces_whole(tmp_path):
    target = tmp_path / "model"
    with atomic_dir(target) as tmp:
        (tmp / "a").write_text("1")
    with pytest.raises(RuntimeError), atomic_dir(target) as tmp:
        (tmp / "b").write_text("2")
        raise RuntimeError
    assert sorted(p.name for p in target.iterdir()) == ["a"]
    assert [p.name for p in tmp_path.iterdir()] == ["model"]


def test_stale_temps_from_a_killed_writer_are_removed(tmp_path):
    (tmp_path / ".part-00001.parquet.abc.tmp").write_text("partial")
    (tmp_path / "part-00000.parquet").write_text("whole")
    assert remove_stale_temps(tmp_path) == 1
    assert [p.name for p in tmp_path.iterdir()] == ["part-00000.parquet"]
