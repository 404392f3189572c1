"""End to end against a real Label Studio server on 127.0.0.1 (one start per session, module-scoped).

The server lives in its own virtual environment (it pins its own dependencies): ``ICAA_LABEL_STUDIO_BIN`` or
``.venv-ls/bin/label-studio`` in the repository (``.ci/run`` creates it); the tests skip where neither exists.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import requests

from icaa.annotation.simulate import RaterDesign, annotation_result, simulate_ratings
from icaa.pipeline.annotate import run_export, run_import
from icaa.pipeline.mos import run_mos
from icaa.common.errors import IcaaError
from labelstudio_server import TOKEN, Server, label_studio_binary, server_errors

pytestmark = [pytest.mark.server, pytest.mark.slow]

REPO_ROOT = Path(__file__).resolve().parents[1]
TITLE = "icaa e2e"


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    binary = label_studio_binary()
    if binary is None:
        pytest.skip("Label Studio server not installed: create .venv-ls (python3 -m venv .venv-ls && "
                    ".venv-ls/bin/pip install label-studio) or set ICAA_LABEL_STUDIO_BIN")
    root = tmp_path_factory.mktemp("ls")
    server = Server(binary, root)
    server.start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def photos(server):
    """Ten demo photos to rate and two more as the anchor pool, in a subdirectory of the document root."""
    images = server.root / "imgs"
    images.mkdir()
    demo = sorted((REPO_ROOT / "data" / "demo").glob("*.jpg"))[:12]
    for path in demo:
        shutil.copy(path, images / path.name)
    names = [p.name for p in demo]
    ids, pool_ids = names[:10], names[10:]
    selection = pd.DataFrame({"image_id": ids, "category": "demo", "coarse_score": np.linspace(1.5, 9.5, len(ids)),
                              "score_bin": range(len(ids))})
    path = server.root / "selection.parquet"
    selection.to_parquet(path)
    pd.DataFrame({"image_id": names, "coarse_score": [*selection["coarse_score"], 4.1, 7.95]}).to_parquet(
        server.root / "pool.parquet")
    return path, images, ids, pool_ids


def _client(server):
    from label_studio_sdk import LabelStudio
    return LabelStudio(base_url=server.url, api_key=TOKEN)


def _export(server, photos):
    path, images, _, _ = photos
    return run_export(path, images_root=images, local_files=True, document_root=server.root, overlap=3,
                      anchor_pool=server.root / "pool.parquet", project_title=TITLE, url=server.url, api_key=TOKEN)


def test_round_trip_export_rate_import_mos_with_faults(server, photos, tmp_path):
    path, images, ids, pool_ids = photos
    first = _export(server, photos)
    assert first["created"] and first["tasks_added"] == len(ids)
    # the pool's two photos are the anchors (levels 4 and 8), the selection's photos are not
    assert first["anchors"] == 2 and first["anchor_ids"] == [f"4: {pool_ids[0]}", f"8: {pool_ids[1]}"]
    again = _export(server, photos)
    assert not again["created"] and again["tasks_added"] == 0 and again["tasks_present"] == len(ids)

    client = _client(server)
    # one page (.items): iterating the SDK's pager would ask for a page past the last one
    tasks = {t.data["image_id"]: t for t in client.tasks.list(project=first["project_id"], fields="all",
                                                               page_size=100).items}
    assert sorted(tasks) == ids and len(tasks) == len(ids)
    assert tasks[ids[3]].meta == {"category": "demo", "score_bin": 3, "coarse_score": pytest.approx(1.5 + 3 * 8 / 9)}
    # the photo is served to logged-in users through local-files storage
    image = requests.get(server.url + tasks[ids[0]].data["image"], headers={"Authorization": f"Token {TOKEN}"},
                         timeout=10)
    assert image.status_code == 200 and image.content[:2] == b"\xff\xd8"

    ratings, _truth, _ = simulate_ratings(RaterDesign(n_images=len(ids), n_raters=5, images_per_rater=len(ids)),
                                          seed=11, image_ids=ids)
    users = {name: client.users.create(username=name, email=f"{name}@example.com").id
             for name in sorted(ratings["rater"].unique())}
    for row in ratings.itertuples(index=False):
        client.annotations.create(id=tasks[row.image_id].id, completed_by=users[row.rater], lead_time=row.lead_time,
                                  result=annotation_result(int(row.color), int(row.overall), float(row.confidence)))
    # the server accepts both of these; the import must not
    client.annotations.create(id=tasks[ids[0]].id, result=annotation_result(11, 5, 0.5))
    client.annotations.create(id=tasks[ids[1]].id, result=annotation_result(6, 5, 0.5)[1:])

    out = tmp_path / "ratings.parquet"
    summary = run_import(out, project_title=TITLE, url=server.url, api_key=TOKEN, page_size=3)
    assert summary["annotations_valid"] == len(ratings) and summary["added"] == len(ratings)
    assert summary["rejects_by_reason"] == {"color_out_of_range": 1, "missing_color": 1}
    table = pd.read_parquet(out)
    expected = ratings.assign(rater=ratings["rater"] + "@example.com")   # the annotator's e-mail, not user<id>
    merged = table.merge(expected, on=["image_id", "rater"], suffixes=("", "_sim"))
    assert len(merged) == len(ratings) and (merged["color"] == merged["color_sim"]).all()

    # an edit is picked up once; nothing is counted twice
    edited = client.annotations.list(id=tasks[ids[2]].id)[0]
    client.annotations.update(id=edited.id, result=annotation_result(2, 2, 0.9))
    summary = run_import(out, project_title=TITLE, url=server.url, api_key=TOKEN, page_size=3)
    assert summary["added"] == 0 and summary["updated"] == 1 and summary["ratings_total"] == len(ratings)
    reference = pd.read_parquet(out)
    assert reference.set_index("annotation_id").loc[edited.id, "color"] == 2
    reference_bytes = out.read_bytes()

    mos = run_mos(out, tmp_path / "mos.parquet")
    assert mos["images"] == len(ids)
    assert pd.read_parquet(tmp_path / "mos.parquet")["color"].between(1, 10).all()

    # restart mid-import: the table is untouched, a re-run ends with the same table
    def stop_after_first_page(page: int) -> None:
        if page == 1:
            server.stop()

    out.unlink()
    out.write_bytes(reference_bytes)
    with pytest.raises(IcaaError, match="cannot reach Label Studio"):
        run_import(out, project_title=TITLE, url=server.url, api_key=TOKEN, page_size=3,
                   on_page=stop_after_first_page)
    assert out.read_bytes() == reference_bytes
    # server down at export and at import: clear error, nothing written
    with pytest.raises(IcaaError, match=f"cannot reach Label Studio at {server.url}"):
        _export(server, photos)
    with pytest.raises(IcaaError, match="is the server running"):
        run_import(out, project_title=TITLE, url=server.url, api_key=TOKEN)
    assert out.read_bytes() == reference_bytes
    server.start()
    summary = run_import(out, project_title=TITLE, url=server.url, api_key=TOKEN, page_size=3)
    assert summary["added"] == 0 and summary["updated"] == 0
    pd.testing.assert_frame_equal(pd.read_parquet(out), reference)
    fresh = tmp_path / "fresh.parquet"
    run_import(fresh, project_title=TITLE, url=server.url, api_key=TOKEN, page_size=50)
    pd.testing.assert_frame_equal(pd.read_parquet(fresh), reference)
    # page_size 3 and 5 end exactly on a page; no call asked for a page past the last one, nothing failed
    run_import(fresh, project_title=TITLE, url=server.url, api_key=TOKEN, page_size=5)
    assert server_errors((server.root / "ls.log").read_text(errors="replace")) == []


def test_wrong_token_is_reported_without_echoing_it(server, photos):
    with pytest.raises(IcaaError) as error:
        run_import(server.root / "never.parquet", project_title=TITLE, url=server.url, api_key="wrong-token-xyz")
    assert "HTTP 401" in str(error.value) and "wrong-token-xyz" not in str(error.value)
    assert "sessionid" not in str(error.value)
    assert not (server.root / "never.parquet").exists()
