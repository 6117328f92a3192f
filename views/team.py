"""Team page: who labeled what, agreement, conflicts to resolve, quality-control routing, export and import."""

from __future__ import annotations

import math
from datetime import UTC
from pathlib import Path

import streamlit as st

from alviz import export, team
from alviz.markup import md
from alviz.session import Session
from alviz.store import Store
from views.panels.items import show_items
from views.panels.shared import require_session

sess: Session = require_session()
store, pid = sess.store, sess.project_id
st.header("Team")
st.caption(f"Project **{md(sess.project)}** · you are **{md(sess.annotator)}**")


@st.cache_data(max_entries=8, show_spinner="Reading the team's labels…")
def _derived(_store: Store, url: str, project_id: int, revision: tuple[int, int]) -> tuple:
    """Conflicts, the annotator table and agreement: recomputed only when someone labeled (``revision``);
    the store's ``url`` keys it in the store's place."""
    conflicts = team.conflicts(_store, project_id)
    return conflicts, team.annotator_table(_store, project_id, conflicts), team.agreement(_store, project_id)


conflicts, table, ag = _derived(store, store.url, pid, store.revision(pid))


def _num(x: float, pct: bool = False) -> str:
    return "–" if x is None or math.isnan(x) else (f"{x:.0%}" if pct else f"{x:.2f}")


# ------------------------------------------------------------------------------------------ who did what
st.subheader("Annotators")
if table:
    st.dataframe(table, hide_index=True)
else:
    st.info("No labels yet in this project.")

# ------------------------------------------------------------------------------------------- agreement
st.subheader("Agreement")
c1, c2, c3 = st.columns(3)
c1.metric("Items labeled by 2+ people", f"{ag.n_items:,}")
fleiss = team.kappa_text(ag.fleiss, ag.fleiss_ci, ag.n_items) if ag.n_items else "–"
c2.metric(  # the number alone (a metric is narrow); its interval and n, or why there is none, below it
    "Fleiss' kappa",
    f"{ag.fleiss:.2f}" if ag.n_items >= team.MIN_SHARED and not math.isnan(ag.fleiss) else "–",
    help="All annotators together; 1 = perfect, 0 = chance level.",
)
if ag.n_items:
    c2.caption(fleiss)
c3.metric("Raw agreement", _num(ag.agreement, pct=True), help="Share of agreeing annotator pairs per item.")
if ag.pairs:
    st.dataframe(
        [
            {"annotator A": p.a, "annotator B": p.b, "shared items": p.n_items, "agreement": p.agreement}
            | {"Cohen's kappa": team.kappa_text(p.kappa, p.kappa_ci, p.n_items)}
            for p in ag.pairs
        ],
        hide_index=True,
        column_config={"agreement": st.column_config.NumberColumn(format="percent")},
    )
if ag.n_items:
    st.caption(
        f"Kappa's 95% confidence interval: percentile bootstrap over the shared items ({team.BOOTSTRAP_REPS:,} "
        f"resamples, fixed seed); with fewer than {team.MIN_SHARED} shared items no kappa is shown."
    )
elif ag.n_items == 0:
    st.caption("Agreement needs items labeled by at least two people: switch on quality control below.")

# ------------------------------------------------------------------------------------------- conflicts
st.subheader(f"Conflicts ({len(conflicts):,})")
if not conflicts:
    st.caption("No open conflicts: wherever two people labeled an item, they agree (or a reviewer resolved it).")
else:
    st.dataframe(
        [
            {"item": c.item_id, "labels": " · ".join(f"{w}: {lab}" for w, lab in c.labels.items()), "now": c.current}
            for c in conflicts
        ],
        hide_index=True,
        height=min(36 * (len(conflicts) + 1), 300),
    )
    pick = st.selectbox(
        "Conflict to resolve",
        range(len(conflicts)),
        format_func=lambda i: f"{conflicts[i].item_id}  ({' vs '.join(conflicts[i].candidates)})",
        key="resolve_item",
    )
    chosen = conflicts[pick]
    rows = sess.pool.index_of([chosen.item_id])
    show_items(sess.pool, rows[:1], scale=1, pad=0, width=112, chars=500, ids=False)  # the id is chosen above
    options = chosen.candidates + [n for n in sess.class_names if n not in chosen.candidates]
    label = st.selectbox("Resolve to", options, key="resolve_label")
    a, b = st.columns(2)
    if a.button("Resolve", type="primary", key="resolve"):
        team.resolve(store, pid, [chosen.item_id], label, sess.annotator)
        sess.refresh()
        st.session_state["toast"] = f"Resolved {md(chosen.item_id)} as {md(label)}."
        st.rerun()
    n_clear = sum(1 for c in conflicts if team.majority(c) is not None)
    if b.button(f"Resolve the {n_clear} with a clear majority", key="resolve_majority", disabled=n_clear == 0):
        n = team.resolve_by_majority(store, pid, sess.annotator)
        sess.refresh()
        st.session_state["toast"] = f"Resolved {n} conflicts by majority."
        st.rerun()

# ------------------------------------------------------------------------------------- quality control
st.subheader("Quality control")
settings = store.settings(pid)
stored_fraction = float(settings.get("qc_fraction") or 0.0)
st.session_state["qc_on"] = stored_fraction > 0  # the store is the truth; a teammate may have changed it
st.session_state.setdefault("qc_fraction", stored_fraction or 0.1)
if stored_fraction > 0:
    st.session_state["qc_fraction"] = stored_fraction


def _save_qc() -> None:
    on, fraction = st.session_state["qc_on"], float(st.session_state["qc_fraction"])
    store.update_settings(pid, qc_fraction=fraction if on else None, qc_seed=settings.get("qc_seed", 0))


st.toggle("Route a sample of labeled items to a second annotator", key="qc_on", on_change=_save_qc)
st.slider(
    "Share of labeled items that get a second, blind label",
    0.05,
    0.5,
    step=0.05,
    key="qc_fraction",
    on_change=_save_qc,
    disabled=not st.session_state["qc_on"],
)
if stored_fraction > 0:
    status = team.qc_status(store, pid, stored_fraction, int(settings.get("qc_seed", 0)))
    mine = len(sess.qc_rows())
    st.caption(
        f"{status['sampled']:,} items in the sample, {status['double']:,} with a second label; "
        f"{mine:,} wait for you at the top of the Queue page."
    )

# ---------------------------------------------------------------------------------------- export/import
st.subheader("Export")
e1, e2 = st.columns([1, 2])
fmt = e1.radio("Format", ["csv", "parquet", "json"], horizontal=True, key="export_format")
history = e2.checkbox("Every event (full history), not only current labels", key="export_history")
st.download_button(
    f"Download {fmt.upper()}",
    data=lambda: export.labels_bytes(store, sess.project, fmt, history),
    file_name=f"{sess.project}-{'history' if history else 'labels'}.{fmt}",
    mime=export.MIME[f".{fmt}"],
    on_click="ignore",
    key="export_download",
    icon=":material/download:",
)

st.subheader("Import")
upload = st.file_uploader(
    "Labels file: columns item_id and label; annotator and created_at are kept when present",
    type=["csv", "parquet", "json"],
    key="import_file",
)
if upload is not None and st.button("Import", key="import", type="primary"):
    from alviz.auth import is_admin
    from views.panels.identity import auth_mode

    try:
        result = export.import_labels(
            store,
            sess.project,
            upload.getvalue(),
            fmt=Path(upload.name).suffix,
            importer=sess.annotator,
            keep_annotators=auth_mode() != "open" and is_admin(sess.annotator),  # a typed name proves nothing
            pool_ids=sess.pool.ids,
            classes=sess.class_names,
        )
    except ValueError as exc:
        st.error(md(exc))
    else:
        sess.refresh()
        summary = export.import_summary(result)
        st.success(f"{md(summary[:1].upper() + summary[1:])}. Undo on the Explore page takes them back.")


def _names(names: list[str], most: int = 5) -> str:
    return ", ".join(md(n) for n in names[:most]) + (f" and {len(names) - most:,} more" if len(names) > most else "")


imports = store.imports(pid)  # read after an import above, so it lists that one too
for imp in imports[-10:][::-1]:  # the newest first
    when = imp["created_at"].astimezone(UTC) if imp["created_at"].tzinfo else imp["created_at"]  # SQLite: UTC
    names = [a for a in imp["annotators"] if a != imp["importer"]]
    kept = f" as the labels of {_names(names)}" if names else ""
    said = f"; the file named {_names(imp['imported_from'])}" if imp["imported_from"] else ""
    st.caption(
        f"**{md(imp['importer'])}** imported {imp['labels']:,} labels{kept} on {when:%Y-%m-%d %H:%M} UTC{said}"
        + (" (undone)" if imp["undone"] else "")
    )
if len(imports) > 10:
    st.caption(f"… and {len(imports) - 10:,} earlier imports (the export of every event lists them all).")
