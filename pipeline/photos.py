"""Which photo an image shows: one rule and one grouping, used from scan to the model's loader.

Two images show the same photo when they share any key, transitively: the same bytes (sha256), a
perceptual hash at most ``near_duplicate_distance`` bits from the other's (scan's near duplicates), or
the same file name. The name rule is ICAA17K's habit of filing one photo under several classes
(``complementary/red_blue/x.jpg`` and ``monochromatic/red/x.jpg``); names are compared lower-cased,
so ``X.JPG`` and ``x.jpg`` are one photo: a split that groups too much loses a little freedom, one that
groups too little leaks. A group's ``photo_key`` is the first ``image_id`` of the group in sorted
order (for a photo alone, its own id), so scan's duplicate representative keeps its role.

``scan`` computes ``photo_key`` once (:func:`assign_photo_keys`) and every later table carries it;
a table without it (a user's ICAA17K CSV, an old table) gets it from :func:`photo_keys`, which groups
by file name (and by any other key columns given) with the same function. Groups are connected
components of the graph of rows and key values (scipy), one union-find for every caller.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import numpy as np
import pandas as pd

__all__ = ["file_name", "name_key", "group_rows", "photo_groups", "first_of_group", "assign_photo_keys",
           "duplicate_group_key", "photo_keys"]


def file_name(ids: pd.Series) -> pd.Series:
    """The file name of each image id (the part after the last ``/``), case kept.

    >>> file_name(pd.Series(["complementary/red_blue/A1.jpg", "b.jpg"])).tolist()
    ['A1.jpg', 'b.jpg']
    """
    return ids.astype(str).str.rsplit("/", n=1).str[-1]


def name_key(ids: pd.Series) -> pd.Series:
    """The name rule of photo identity: the lower-cased file name of each id.

    >>> name_key(pd.Series(["monochromatic/red/Ab12.JPG", "complementary/red_blue/ab12.jpg"])).tolist()
    ['ab12.jpg', 'ab12.jpg']
    """
    return file_name(ids).str.lower()


def group_rows(n_rows: int, keys: Iterable[pd.Series | np.ndarray] = (),
               pairs: tuple[np.ndarray, np.ndarray] | None = None) -> np.ndarray:
    """Group rows that share any key value or are paired, transitively; return a group id per row.

    Parameters
    ----------
    n_rows
        Number of rows.
    keys
        Columns of ``n_rows`` values each (file name, sha256, ...); a null value joins nothing.
    pairs
        Two index arrays ``(i, j)`` of rows known to show the same photo (near duplicates).

    Returns
    -------
    numpy.ndarray
        int64 group ids ``0..n_groups-1``, numbered by first appearance.

    Examples
    --------
    >>> group_rows(4, [pd.Series(["a", "b", "c", "d"])], (np.array([0]), np.array([3]))).tolist()
    [0, 1, 2, 0]
    """
    if n_rows == 0:
        return np.zeros(0, dtype=np.int64)
    rows_parts, nodes_parts = [np.arange(n_rows)], [np.arange(n_rows)]
    offset = n_rows
    for column in keys:
        codes, uniques = pd.factorize(pd.Series(column).reset_index(drop=True), use_na_sentinel=True)
        if len(codes) != n_rows:
            raise ValueError(f"a key column has {len(codes)} values for {n_rows} rows")
        present = codes >= 0
        rows_parts.append(np.flatnonzero(present))
        nodes_parts.append(codes[present] + offset)
        offset += len(uniques)
    if pairs is not None and len(pairs[0]):
        rows_parts.append(np.asarray(pairs[0], dtype=np.int64))
        nodes_parts.append(np.asarray(pairs[1], dtype=np.int64))
    from scipy.sparse import coo_matrix  # here: a stage that only carries photo_key never loads scipy
    from scipy.sparse.csgraph import connected_components

    rows = np.concatenate(rows_parts)
    nodes = np.concatenate(nodes_parts)
    graph = coo_matrix((np.ones(len(rows), dtype=np.int8), (rows, nodes)), shape=(offset, offset))
    _, labels = connected_components(graph, directed=False)
    # Renumber by first appearance so that ids do not depend on scipy's numbering.
    return pd.factorize(labels[:n_rows])[0].astype(np.int64)


def photo_groups(keys: pd.DataFrame | Sequence[pd.Series]) -> np.ndarray:
    """Group rows that share any of the key columns (see :func:`group_rows`); a group id per row.

    >>> photo_groups(pd.DataFrame({"name": ["a", "b", "c"], "sha": ["x", "y", "x"]})).tolist()
    [0, 1, 0]
    """
    columns = [keys[c] for c in keys.columns] if isinstance(keys, pd.DataFrame) else list(keys)
    if not columns:
        raise ValueError("photo_groups needs at least one key column")
    return group_rows(len(columns[0]), columns)


def first_of_group(ids: pd.Series | np.ndarray, groups: np.ndarray) -> np.ndarray:
    """Per row, the smallest id (string order) of its group.

    >>> first_of_group(np.array(["b", "a", "c"]), np.array([0, 0, 1])).tolist()
    ['a', 'a', 'c']
    """
    ids = np.asarray(ids, dtype=object).astype(str)
    frame = pd.DataFrame({"id": ids, "group": groups})
    return frame.groupby("group")["id"].transform("min").to_numpy(dtype=object)


def assign_photo_keys(image_ids: pd.Series, *, keys: Iterable[pd.Series] = (),
                      pairs: tuple[np.ndarray, np.ndarray] | None = None) -> np.ndarray:
    """``photo_key`` per row: the first image id (sorted) of the row's photo group, where rows are grouped by the
    name rule, the extra ``keys`` (e.g. sha256) and ``pairs`` (near duplicates).

    >>> assign_photo_keys(pd.Series(["red/x.jpg", "blue/X.jpg", "red/y.jpg"])).tolist()
    ['blue/X.jpg', 'blue/X.jpg', 'red/y.jpg']
    """
    image_ids = pd.Series(image_ids).reset_index(drop=True).astype(str)
    groups = group_rows(len(image_ids), [name_key(image_ids), *[pd.Series(k).reset_index(drop=True) for k in keys]],
                        pairs)
    return first_of_group(image_ids, groups)


def duplicate_group_key(duplicate_of: pd.Series, ids: pd.Series) -> pd.Series:
    """A key column from scan's ``duplicate_of``: the group's representative, or a row's own id where it is in
    no duplicate group (null or empty).

    >>> duplicate_group_key(pd.Series([None, "a.jpg", ""]), pd.Series(["a.jpg", "b.jpg", "c.jpg"])).tolist()
    ['a.jpg', 'a.jpg', 'c.jpg']
    """
    member = duplicate_of.notna() & (duplicate_of.astype(str) != "")
    return duplicate_of.where(member, ids).astype(str)


def photo_keys(frame: pd.DataFrame, images: pd.DataFrame | None = None, *, id_column: str = "image_id",
               extra_keys: Sequence[str] = ()) -> pd.Series:
    """The ``photo_key`` of each row of ``frame``: its own column when it has one, else scan's from ``images``
    (matched on ``image_id``), else derived with :func:`assign_photo_keys` from the ids' file names, scan's
    ``duplicate_of`` where ``frame`` or ``images`` has it, and the columns ``extra_keys`` (e.g. sha256).

    >>> photo_keys(pd.DataFrame({"ID": ["red/x.jpg", "blue/x.jpg"]}), id_column="ID").tolist()
    ['blue/x.jpg', 'blue/x.jpg']
    """
    ids = frame[id_column].astype(str)
    if "photo_key" in frame.columns and frame["photo_key"].notna().all():
        return frame["photo_key"].astype(str)
    known = pd.Series(None, index=frame.index, dtype=object)
    if "photo_key" in frame.columns:
        known = frame["photo_key"].astype(object)
    if images is not None and "photo_key" in images.columns:
        mapped = ids.map(images.drop_duplicates("image_id").set_index("image_id")["photo_key"])
        known = known.where(known.notna(), mapped)
    if known.notna().all():
        return known.astype(str)
    keys = [frame[name].reset_index(drop=True) for name in extra_keys if name in frame.columns]
    representative = None
    if "duplicate_of" in frame.columns:
        representative = frame["duplicate_of"]
    elif images is not None and "duplicate_of" in images.columns:
        representative = ids.map(images.drop_duplicates("image_id").set_index("image_id")["duplicate_of"])
    if representative is not None:
        keys.append(duplicate_group_key(representative, ids).reset_index(drop=True))
    keys.append(known.reset_index(drop=True))
    derived = assign_photo_keys(ids, keys=keys)
    # A key scan gave wins for its rows; a row without one takes its group's scan key when the group has one
    # (the smallest), else the derived key: one photo never gets two keys.
    known_values = known.reset_index(drop=True)
    group_known = known_values.groupby(derived).transform("min")
    filled = np.where(known_values.notna(), known_values.to_numpy(dtype=object),
                      np.where(group_known.notna(), group_known.to_numpy(dtype=object), derived))
    return pd.Series(filled, index=frame.index, dtype=object).astype(str)
