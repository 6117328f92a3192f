"""The SSL study preset run from the Compare page in headless Chromium (digits, 2 labels per class, 2 repeats)."""

from __future__ import annotations

import pytest
from test_e2e import chromium_browser, streamlit_server, sync_api  # noqa: F401 (chromium_browser: a fixture)

pytestmark = [pytest.mark.e2e, pytest.mark.slow, pytest.mark.usefixtures("chromium_browser")]


def test_the_ssl_study_preset_runs_from_the_compare_page(request, tmp_path):
    browser = request.getfixturevalue("chromium_browser")
    with streamlit_server(tmp_path, umap=False) as srv:
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        try:
            page.goto(f"{srv['url']}/compare")
            page.get_by_text("SSL study: self-supervised features meet active learning").click(timeout=60_000)
            per_class = page.get_by_label("Labels per class, up to")
            per_class.fill("2")
            per_class.press("Enter")
            repeats = page.get_by_label("Repeats")
            repeats.fill("2")
            repeats.press("Enter")
            sync_api.expect(repeats).to_have_value("2", timeout=10_000)
            page.get_by_role("button", name="Run study").click()
            page.get_by_text("Where does random stand?").wait_for(timeout=180_000)
            for head in ("logreg", "svm"):  # one sentence per (embedding, head), saying where random stands
                sync_api.expect(page.get_by_text(f"pixels_pca + {head}:")).to_contain_text("standard error")
            # the table's grid loads lazily: seconds on a busy machine
            sync_api.expect(page.locator('[data-testid="stDataFrame"]')).to_have_count(1, timeout=30_000)
            sync_api.expect(page.get_by_text("Learning curves: pixels_pca + svm")).to_be_visible()
        finally:
            page.close()
