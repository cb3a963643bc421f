"""The suite passes wherever it is cloned (issue 26): a server the tests start whose
processes are not the clone's owner (nginx's workers, as nobody when the tests run as root)
is given a copy it can read (the `readable_copy` fixture), even from a clone inside a
folder only its owner may enter, with files only its owner may read (umask 077)."""
import os
import pwd
import stat
import subprocess

import pytest


def _private_tree(tmp_path):
    outer = tmp_path / "private"  # as `mktemp -d` makes it
    tree = outer / "clone" / "web"
    (tree / "js").mkdir(parents=True)
    (tree / "index.html").write_text("<p>hello</p>")
    (tree / "js" / "app.js").write_text("run()")
    for path in (outer, outer / "clone", tree, tree / "js"):
        path.chmod(0o700)
    for path in (tree / "index.html", tree / "js" / "app.js"):
        path.chmod(0o600)
    return tree


def _others_can_reach(path) -> bool:
    """Every folder from / down to `path` lets others in, and `path` lets them read."""
    folders = list(path.parents)
    return all(os.stat(p).st_mode & stat.S_IXOTH for p in folders) and \
        os.stat(path).st_mode & stat.S_IROTH


def test_the_copy_of_a_private_tree_is_readable_by_others(tmp_path, readable_copy):
    tree = _private_tree(tmp_path)
    assert not _others_can_reach(tree / "index.html")
    copy = readable_copy(tree)
    assert copy.name == "web"
    assert (copy / "js" / "app.js").read_text() == "run()"
    for path in (copy / "index.html", copy / "js" / "app.js", copy / "js"):
        assert _others_can_reach(path), path


@pytest.mark.skipif(os.geteuid() != 0, reason="only root can read as another user")
def test_nobody_reads_the_copy_and_not_the_clone(tmp_path, readable_copy):
    """As nginx's workers would: a process running as nobody."""
    tree = _private_tree(tmp_path)
    copy = readable_copy(tree)
    nobody = pwd.getpwnam("nobody")

    def read_as_nobody(path) -> subprocess.CompletedProcess:
        def drop():
            os.setgroups([])
            os.setgid(nobody.pw_gid)
            os.setuid(nobody.pw_uid)
        return subprocess.run(["cat", str(path)], capture_output=True, text=True,
                              preexec_fn=drop)
    assert read_as_nobody(tree / "index.html").returncode != 0  # the clone: closed
    assert read_as_nobody(copy / "index.html").stdout == "<p>hello</p>"
    assert read_as_nobody(copy / "js" / "app.js").stdout == "run()"
